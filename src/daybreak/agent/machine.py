"""What an agent offers: parsed from its flags, or detected from the machine where not given."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import psutil

from daybreak.errors import InvalidParameterError
from daybreak.model.agent import PortRange
from daybreak.model.jobspec import Resources
from daybreak.model.units import MIB, is_number, parse_size_mb


def parse_pairs(text: str, what: str) -> dict[str, str]:
    """`host=h1,rack=r1`."""
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise InvalidParameterError(f"{what}: {item!r} is not NAME=VALUE")
        pairs[name.strip()] = value.strip()
    return pairs


def parse_ports(text: str) -> PortRange:
    first, dash, last = text.partition("-")
    if not dash or not is_number(first.strip()) or not is_number(last.strip()):
        raise InvalidParameterError(f"--ports: {text!r} is not a range such as 31000-32000")
    ports = PortRange(first=int(first), last=int(last))
    if not 0 < ports.first <= ports.last < 65536:
        raise InvalidParameterError(f"--ports: {text!r} must lie within 1-65535, low to high")
    return ports


def detect_resources(work_dir: Path) -> Resources:
    return Resources(
        cpu=float(os.cpu_count() or 1),
        ram_mb=psutil.virtual_memory().total // MIB,
        disk_mb=shutil.disk_usage(work_dir).free // MIB,
        gpu=0,
    )


def parse_resources(text: str | None, work_dir: Path) -> Resources:
    """`cpu=4,ram=8GiB,disk=100GiB,gpu=0`; what is left out is detected."""
    detected = detect_resources(work_dir)
    given = parse_pairs(text or "", "--resources")
    unknown = sorted(set(given) - {"cpu", "ram", "disk", "gpu"})
    if unknown:
        raise InvalidParameterError(
            f"--resources: unknown resource {unknown[0]!r}; known are cpu, ram, disk, gpu"
        )
    try:
        cpu = float(given["cpu"]) if "cpu" in given else detected.cpu
        gpu = int(given["gpu"]) if "gpu" in given else detected.gpu
    except ValueError as error:
        raise InvalidParameterError(f"--resources: {error}") from None
    return Resources(
        cpu=cpu,
        ram_mb=parse_size_mb(given["ram"], "--resources ram")
        if "ram" in given
        else detected.ram_mb,
        disk_mb=(
            parse_size_mb(given["disk"], "--resources disk")
            if "disk" in given
            else detected.disk_mb
        ),
        gpu=gpu,
    )


def default_hostname() -> str:
    return socket.gethostname()
