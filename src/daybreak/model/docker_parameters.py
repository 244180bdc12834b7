"""The Docker `parameters` a task in an image may carry, though no Docker engine runs it: those
that mean the same in an OCI runtime's configuration.

Aurora handed each `Parameter(name, value)` to `docker run` as `--NAME=VALUE`. Daybreak honours

- `env`: `NAME=VALUE`, in the container's environment (over the image's, as `docker run -e`);
- `volume`: `HOST:CONTAINER` or `HOST:CONTAINER:ro|rw`, a bind mount (as a Mesos `Volume`);
- `label`: `KEY=VALUE`, an annotation on the container (Docker keeps labels the same way);

and refuses every other at `job create`, naming it, rather than run without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from daybreak.model.jobspec import DockerParameter, Volume

HONOURED = ("env", "volume", "label")
_MODES: dict[str, Literal["RO", "RW"]] = {"ro": "RO", "rw": "RW"}


@dataclass(frozen=True)
class ContainerSettings:
    environment: tuple[tuple[str, str], ...] = ()
    volumes: tuple[Volume, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ParameterProblem:
    index: int
    why: str


def read_parameters(
    parameters: tuple[DockerParameter, ...],
) -> tuple[ContainerSettings, list[ParameterProblem]]:
    """What the parameters ask of the container, and why any of them cannot be honoured."""
    environment: list[tuple[str, str]] = []
    volumes: list[Volume] = []
    labels: list[tuple[str, str]] = []
    problems: list[ParameterProblem] = []
    for index, parameter in enumerate(parameters):
        name, value = parameter.name, parameter.value
        if name in ("env", "label"):
            key, equals, rest = value.partition("=")
            if not equals or not key:
                problems.append(ParameterProblem(
                    index, f"Docker parameter {name!r} needs KEY=VALUE, got {value!r}"
                ))  # fmt: skip
            else:
                (environment if name == "env" else labels).append((key, rest))
        elif name == "volume":
            volume = _volume(value)
            if isinstance(volume, str):
                problems.append(ParameterProblem(index, volume))
            else:
                volumes.append(volume)
        else:
            problems.append(ParameterProblem(
                index,
                f"Docker parameter {name!r} is not supported: Daybreak runs images with runc, "
                f"not a Docker engine ({', '.join(HONOURED)} are honoured; ports and limits "
                f"come from the job)",
            ))  # fmt: skip
    settings = ContainerSettings(tuple(environment), tuple(volumes), tuple(labels))
    return settings, problems


def _volume(value: str) -> Volume | str:
    """`HOST:CONTAINER[:ro|rw]` as a bind mount, or why it is not one Daybreak makes."""
    parts = value.split(":")
    mode = "rw"
    if len(parts) == 3:
        mode = parts.pop()
    if len(parts) != 2 or mode not in _MODES:
        return (
            f"Docker parameter 'volume' needs HOST:CONTAINER or HOST:CONTAINER:ro|rw, got {value!r}"
        )
    host, inside = parts
    if not host.startswith("/") or not inside.startswith("/"):
        return (
            f"Docker parameter 'volume' {value!r}: both paths must be absolute (named volumes "
            f"need a Docker engine)"
        )
    return Volume(container_path=inside, host_path=host, mode=_MODES[mode])
