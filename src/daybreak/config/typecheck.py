"""Type-check a pystachio object and report every problem with its field path.

pystachio's own `check()` stops at the first problem and nests its messages
(`MesosJob[task] failed: Task[resources] failed: ...`). This walks the same structure, with
the same scoping rules, and says `Job.task.resources.ram: required` for each problem instead.

It reads pystachio's private containers (`_schema_data`, `_values`, `_map`, `_value`) because
pystachio has no public way to visit children with their scopes; the version is pinned.
"""

from __future__ import annotations

from typing import Any

from pystachio import Empty, Ref
from pystachio.base import Object
from pystachio.basic import EnumContainer, SimpleObject
from pystachio.choice import ChoiceContainer
from pystachio.composite import Structural
from pystachio.container import ListContainer, MapContainer
from pystachio.parsing import MustacheParser

from daybreak.errors import ConfigIssue


def type_name(cls: Any) -> str:
    if issubclass(cls, ListContainer):
        return f"List({type_name(cls.TYPE)})"
    if issubclass(cls, MapContainer):
        return f"Map({type_name(cls.KEYTYPE)}, {type_name(cls.VALUETYPE)})"
    if issubclass(cls, ChoiceContainer):
        return " or ".join(type_name(choice) for choice in cls.CHOICES)
    return str(cls.__name__)


def unbound_hint(ref: Ref) -> str:
    return (
        f"unbound variable {{{{{ref.address()}}}}}: bind it with --bind {ref.address()}=VALUE "
        "or .bind() in the config"
    )


class TypeChecker:
    """Collects ConfigIssues for one object tree; `check(obj, 'Job')` returns them all.

    It also records every unbound template reference it met, in `unbound`.
    """

    def __init__(self) -> None:
        self.issues: list[ConfigIssue] = []
        self.unbound: set[Ref] = set()

    def check(self, obj: Object, path: str) -> list[ConfigIssue]:
        self._visit(obj, path)
        return self.issues

    def _report(self, path: str, problem: str) -> None:
        self.issues.append(ConfigIssue(path, problem))

    def _visit(self, obj: Object, path: str) -> None:
        if isinstance(obj, Structural):
            self._visit_struct(obj, path)
        elif isinstance(obj, ListContainer):
            scopes = obj.scopes()
            for index, element in enumerate(obj._values):
                self._visit(element.in_scope(*scopes), f"{path}[{index}]")
        elif isinstance(obj, MapContainer):
            scopes = obj.scopes()
            for key, value in obj._map:
                label = self._leaf_text(key.in_scope(*scopes))
                self._visit(key.in_scope(*scopes), f"{path} key {label!r}")
                self._visit(value.in_scope(*scopes), f"{path}[{label}]")
        elif isinstance(obj, ChoiceContainer):
            self._visit_choice(obj, path)
        else:
            self._visit_leaf(obj, path)

    def _visit_struct(self, obj: Structural, path: str) -> None:
        scopes = obj.scopes()
        for name, signature in obj.TYPEMAP.items():
            value = obj._schema_data[name]
            if value is Empty:
                if signature.required:
                    self._report(f"{path}.{name}", f"required ({type_name(signature.klazz)})")
                continue
            self._visit(value.in_scope(*scopes), f"{path}.{name}")

    def _visit_choice(self, obj: ChoiceContainer, path: str) -> None:
        raw = obj._value
        for choice in obj.CHOICES:
            if isinstance(raw, choice):
                self._visit(raw.in_scope(*obj.scopes()), path)
                return
        for choice in obj.CHOICES:
            try:
                candidate = choice(raw).in_scope(*obj.scopes())
            except (Object.CoercionError, ValueError, AttributeError, TypeError):
                continue
            if candidate.check().ok():
                return
        self._report(path, f"expected {type_name(type(obj))}, got {raw!r}")

    def _leaf_text(self, obj: Object) -> str:
        try:
            value, _ = obj.interpolate()
            return str(value.get())
        except Exception:
            return str(obj._value) if isinstance(obj, SimpleObject) else repr(obj)

    def _visit_leaf(self, obj: Object, path: str) -> None:
        try:
            _, unbound = obj.interpolate()
        except MustacheParser.Uninterpolatable:
            self._report(path, "template never resolves (does it refer to itself?)")
            return
        except (Object.CoercionError, ValueError, OverflowError, TypeError) as error:
            self._report(path, str(error))
            return
        if unbound:
            self.unbound.update(unbound)
            for ref in sorted(unbound, key=lambda ref: ref.address()):
                self._report(path, unbound_hint(ref))
            return
        result = obj.check()
        if not result.ok():
            expected = (
                "one of " + ", ".join(type(obj).VALUES)
                if isinstance(obj, EnumContainer)
                else type(obj).__name__
            )
            self._report(path, f"expected {expected}, got {self._leaf_text(obj)!r}")
