"""Which ports a job needs: derived from its templates, as Aurora did.

A task asks for a port by using `{{thermos.ports[NAME]}}` anywhere in its config. The
announcer's portmap may alias one name to another (`'aurora': 'http'`) or pin a name to a
static port number (`'http': '80'`); only names that end at no number are allocated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pystachio import Ref

PORTS_SCOPE = Ref.from_address("thermos.ports")


def referenced_ports(refs: Iterable[Ref]) -> set[str]:
    """Port names used as `{{thermos.ports[NAME]}}` among the unbound template references."""
    names = set()
    for ref in refs:
        scoped = PORTS_SCOPE.scoped_to(ref)
        if scoped is None:
            continue
        if not scoped.is_index():
            raise ValueError(
                f"bad port reference {{{{{ref.address()}}}}}: write {{{{thermos.ports[NAME]}}}}"
            )
        names.add(str(scoped.action().value))
    return names


def resolve_portmap(portmap: Mapping[str, str]) -> dict[str, int | str]:
    """Follow aliases to their end: a static port number, or a port name to allocate."""
    resolved: dict[str, int | str] = {}
    for name in portmap:
        chain = [name]
        target = portmap[name]
        while target in portmap and not target.isdigit():
            if target in chain:
                raise ValueError("alias cycle: " + " -> ".join([*chain, target]))
            chain.append(target)
            target = portmap[target]
        if target.isdigit():
            number = int(target)
            if not 0 < number < 65536:
                raise ValueError(f"{name!r}: static port {number} is outside 1-65535")
            resolved[name] = number
        else:
            resolved[name] = target
    return resolved


def requested_ports(
    referenced: Iterable[str], portmap: Mapping[str, int | str], primary_port: str | None
) -> set[str]:
    """Names the scheduler allocates per instance: references and announcer ends, minus statics."""
    wanted = set(referenced)
    if primary_port is not None:
        wanted.add(primary_port)
    requested = {str(end) for end in portmap.values() if isinstance(end, str)}
    for name in wanted:
        end = portmap.get(name, name)
        if isinstance(end, str):
            requested.add(end)
    return requested
