"""The rooms of the codebase: the core does no I/O, and only `daybreak.config` sees pystachio."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "daybreak"

CORE_FORBIDDEN = {
    "asyncio", "socket", "subprocess", "sqlite3", "sqlalchemy", "psycopg", "pystachio",
    "threading", "multiprocessing", "selectors", "http", "urllib", "logging", "time", "random",
    "os", "shutil", "signal", "litestar", "uvicorn", "click", "rich",
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at any depth of the file (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}


def reachable_from(start: str) -> set[str]:
    """Modules imported by `start`, following daybreak's own modules transitively."""
    seen: set[str] = set()
    pending = [name for name in MODULES if name == start or name.startswith(start + ".")]
    external: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for imported in MODULES.get(name, set()):
            if imported.startswith("daybreak"):
                # An imported package also runs its __init__ and the parents' __init__s.
                parts = imported.split(".")
                for depth in range(1, len(parts) + 1):
                    candidate = ".".join(parts[:depth])
                    if candidate in MODULES:
                        pending.append(candidate)
            else:
                external.add(imported.split(".")[0])
    return external


# Besides the standard library (minus CORE_FORBIDDEN), what the core and model may use.
# cronsim: when cron schedules fire, pure arithmetic on datetimes.
CORE_THIRD_PARTY = {"numpy", "msgspec", "cronsim"}


def test_core_imports_no_io_transitively() -> None:
    assert not (reachable_from("daybreak.core") & CORE_FORBIDDEN)


def test_core_imports_only_the_standard_library_numpy_and_the_model() -> None:
    outside = reachable_from("daybreak.core") - set(sys.stdlib_module_names) - CORE_THIRD_PARTY
    assert outside == set()
    core_files = [name for name in MODULES if name.startswith("daybreak.core")]
    imported = {i for name in core_files for i in MODULES[name] if i.startswith("daybreak.")}
    assert not any(i.startswith(("daybreak.config", "daybreak.client")) for i in imported)


def test_model_imports_no_io_transitively() -> None:
    assert not (reachable_from("daybreak.model") & CORE_FORBIDDEN)


@pytest.mark.parametrize(
    "module", sorted(name for name in MODULES if not name.startswith("daybreak.config"))
)
def test_only_config_imports_pystachio(module: str) -> None:
    assert not any(name.split(".")[0] == "pystachio" for name in MODULES[module])


def test_importing_core_and_model_loads_no_io_module() -> None:
    """The same rule checked at run time, in a clean interpreter. numpy loads modules of its own
    (threading among them), so what it loads is set aside first."""
    core_modules = ", ".join(sorted(name for name in MODULES if name.startswith("daybreak.core")))
    probe = (
        "import sys, numpy, msgspec\n"
        "before = set(sys.modules)\n"
        f"import {core_modules}, daybreak.model.cron, daybreak.model.jobkey\n"
        "new = set(sys.modules) - before\n"
        f"bad = sorted(new & set({sorted(CORE_FORBIDDEN - {'os', 'time'})!r}))\n"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_the_agent_never_loads_pystachio() -> None:
    """Agents receive plain JobSpecs; the config language stays with clients and schedulers."""
    assert "pystachio" not in reachable_from("daybreak.agent")


def _own_imports_of(path: Path) -> set[str]:
    """The daybreak modules a file imports: `from package import submodule` counts as the
    submodule, not the package (whose `__init__` any submodule import runs anyway)."""
    module = module_name(path)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in MODULES
                else node.module
                for alias in node.names
            ]
        else:
            continue
        found.update(n for n in names if n.startswith("daybreak") and n in MODULES)
    return found - {module}


OWN_IMPORTS = {module_name(path): _own_imports_of(path) for path in PACKAGE.rglob("*.py")}


def own_imports(module: str) -> set[str]:
    return OWN_IMPORTS[module]


# Each room, and the rooms it may import from besides its own. A room above may use the
# rooms below; nothing runs back up.
ROOMS: dict[str, set[str]] = {
    "daybreak.model": {"daybreak.errors"},
    "daybreak.core": {"daybreak.model", "daybreak.errors"},
    "daybreak.config": {"daybreak.model", "daybreak.errors"},
    "daybreak.store": {"daybreak.model", "daybreak.errors"},
    "daybreak.agent": {"daybreak.model", "daybreak.errors", "daybreak.tls", "daybreak.log_format"},
    "daybreak.scheduler": {"daybreak.core", "daybreak.store", "daybreak.model", "daybreak.errors"},
    # TLS contexts, for whatever crosses a network; a certificate maker, for the CLI.
    "daybreak.tls": {"daybreak.errors"},
    "daybreak.certs": {"daybreak.errors"},
    "daybreak.log_format": set(),
    "daybreak.ui": {"daybreak.scheduler", "daybreak.core", "daybreak.model", "daybreak.errors"},
    # The command line speaks only the API: its models, and the config files it sends.
    "daybreak.client": {
        "daybreak",
        "daybreak.model",
        "daybreak.errors",
        "daybreak.config",
        "daybreak.tls",
        "daybreak.certs",
    },
    "daybreak.devcluster": {"daybreak.agent", "daybreak.errors"},
}


def room_of(module: str) -> str:
    for room in sorted(ROOMS, key=len, reverse=True):
        if module == room or module.startswith(room + "."):
            return room
    return module


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_each_room_imports_only_the_rooms_below_it(room: str) -> None:
    allowed = ROOMS[room] | {room, "daybreak"}  # the root package holds the version
    wrong = {
        f"{module} -> {imported}"
        for module in MODULES
        if room_of(module) == room
        for imported in own_imports(module)
        if room_of(imported) not in allowed
    }
    assert wrong == set()


def test_no_module_imports_itself_round_a_circle() -> None:
    graph = {module: own_imports(module) for module in MODULES}
    circles = []
    for start in graph:
        stack: list[tuple[str, tuple[str, ...]]] = [(start, (start,))]
        seen: set[str] = set()
        while stack:
            module, path = stack.pop()
            for imported in graph[module]:
                if imported == start:
                    circles.append(" -> ".join((*path, start)))
                elif imported not in seen:
                    seen.add(imported)
                    stack.append((imported, (*path, imported)))
    assert circles == []
