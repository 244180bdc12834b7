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
