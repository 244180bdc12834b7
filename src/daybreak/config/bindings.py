"""`--bind name=value`: user bindings applied to the chosen job before it is evaluated."""

from __future__ import annotations

from collections.abc import Iterable

from pystachio import Ref

from daybreak.errors import InvalidParameterError


def parse_bindings(texts: Iterable[str]) -> dict[str, str]:
    """Validate `name=value` strings; a later binding of the same name wins, as in Aurora."""
    bindings: dict[str, str] = {}
    for text in texts:
        name, equals, value = text.partition("=")
        if not equals or not name:
            raise InvalidParameterError(
                f"--bind {text!r}: write NAME=VALUE, e.g. --bind profile.version=3"
            )
        try:
            Ref.from_address(name)
        except Ref.InvalidRefError as error:
            raise InvalidParameterError(
                f"--bind {text!r}: {name!r} is not a variable name ({error})"
            ) from None
        bindings[name] = value
    return bindings


def as_pystachio(bindings: dict[str, str]) -> dict[Ref, str]:
    return {Ref.from_address(name): value for name, value in bindings.items()}
