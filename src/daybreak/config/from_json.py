"""Build pystachio structs from JSON, rejecting keys the schema does not have.

Aurora's `--read-json` silently dropped unknown keys, so a misspelt field was simply lost.
Here a misspelt key is an error naming its path. Choice fields (`container`, `sla_policy`,
`update_strategy`) take the first alternative whose fields fit the object.
"""

from __future__ import annotations

from typing import Any

from pystachio.choice import ChoiceContainer
from pystachio.composite import Structural
from pystachio.container import ListContainer, MapContainer

from daybreak.errors import ConfigError, ConfigIssue


def struct_from_json(cls: Any, data: Any, path: str) -> Any:
    issues: list[ConfigIssue] = []
    value = _convert(cls, data, path, issues)
    if issues:
        raise ConfigError.of(issues)
    return value


def _fits(cls: Any, data: Any) -> bool:
    typemap = getattr(cls, "TYPEMAP", None)
    if typemap is None or not isinstance(data, dict):
        return False
    required = {name for name, sig in typemap.items() if sig.required}
    return set(data) <= set(typemap) and required <= set(data)


def _convert(cls: Any, data: Any, path: str, issues: list[ConfigIssue]) -> Any:
    if issubclass(cls, Structural):
        if not isinstance(data, dict):
            issues.append(ConfigIssue(path, f"expected an object for {cls.__name__}, got {data!r}"))
            return None
        fields = {}
        for key, value in data.items():
            if value is None:  # JSON null: the field is left unset
                continue
            if key not in cls.TYPEMAP:
                known = ", ".join(sorted(cls.TYPEMAP))
                issues.append(
                    ConfigIssue(
                        f"{path}.{key}", f"unknown field of {cls.__name__} (known: {known})"
                    )
                )
                continue
            fields[key] = _convert(cls.TYPEMAP[key].klazz, value, f"{path}.{key}", issues)
        return cls(**fields)
    if issubclass(cls, ListContainer):
        if not isinstance(data, list):
            issues.append(ConfigIssue(path, f"expected a list, got {data!r}"))
            return None
        return [
            _convert(cls.TYPE, item, f"{path}[{index}]", issues) for index, item in enumerate(data)
        ]
    if issubclass(cls, MapContainer):
        if not isinstance(data, dict):
            issues.append(ConfigIssue(path, f"expected an object, got {data!r}"))
            return None
        return {
            key: _convert(cls.VALUETYPE, value, f"{path}[{key}]", issues)
            for key, value in data.items()
        }
    if issubclass(cls, ChoiceContainer):
        for choice in cls.CHOICES:
            if _fits(choice, data):
                return _convert(choice, data, path, issues)
        if isinstance(data, dict):
            names = ", ".join(choice.__name__ for choice in cls.CHOICES)
            issues.append(ConfigIssue(path, f"fits none of {names}"))
            return None
    return data
