"""The announcer portmap: names that alias other port names or pin a static number."""

from __future__ import annotations

from collections.abc import Mapping

from daybreak.model.units import is_number


def resolve_portmap(portmap: Mapping[str, str]) -> dict[str, int | str]:
    """Follow aliases to their end: a static port number, or a port name to allocate."""
    resolved: dict[str, int | str] = {}
    for name in portmap:
        chain = [name]
        target = portmap[name]
        while target in portmap and not is_number(target):
            if target in chain:
                raise ValueError("alias cycle: " + " -> ".join([*chain, target]))
            chain.append(target)
            target = portmap[target]
        if is_number(target):
            number = int(target)
            if not 0 < number < 65536:
                raise ValueError(f"{name!r}: static port {number} is outside 1-65535")
            resolved[name] = number
        else:
            resolved[name] = target
    return resolved
