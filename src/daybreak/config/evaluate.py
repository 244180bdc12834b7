"""Evaluating a `.aurora` file: Python, run with Aurora's schema already in scope.

As in Aurora, the file is executed with the schema, pystachio's types and the helpers as
globals; `include('other.aurora')` runs another file in the same namespace, its path taken
relative to the including file. Any exception becomes a `ConfigError` that names the config
file and line where it happened, never a traceback.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pystachio

from daybreak.config import helpers, schema
from daybreak.errors import ConfigError

PRELUDE_MODULES = (pystachio, schema, helpers)


def prelude() -> dict[str, Any]:
    """The globals a config file starts with: `from pystachio import *`, the schema, helpers."""
    namespace: dict[str, Any] = {}
    for module in PRELUDE_MODULES:
        namespace.update(
            (name, value) for name, value in vars(module).items() if not name.startswith("_")
        )
    for unwanted in ("annotations", "Any", "Iterable"):
        namespace.pop(unwanted, None)
    return namespace


class ConfigEvaluator:
    """Runs one root config file and the files it includes in a single namespace."""

    def __init__(self) -> None:
        self.namespace = prelude()
        self.namespace["include"] = self.include
        self._stack: list[str] = []
        self.files: list[str] = []

    def run(self, path: str) -> dict[str, Any]:
        try:
            self._exec_file(path)
        except ConfigError:
            raise
        except RecursionError as error:
            # Where it recursed: the innermost config line of the error's own traceback (the
            # stack has unwound by now).
            where = python_error(error, self.files).issues[0].where
            raise ConfigError(
                "recursion too deep while evaluating the config (a function that calls itself "
                "without end, or a value or expression nested too deeply)",
                where or (self.files[-1] if self.files else None),
            ) from None
        except Exception as error:
            raise python_error(error, self.files) from None
        return self.namespace

    def include(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"include() takes a file name, not {name!r}")
        base = os.path.dirname(self._stack[-1]) if self._stack else ""
        path = os.path.normpath(os.path.join(base, name))
        if path in self._stack:
            chain = " -> ".join([*self._stack, path])
            raise ConfigError(f"include cycle: {chain}", self._innermost_location())
        if not os.path.isfile(path):
            raise ConfigError(
                f"include({name!r}): no such file {path!r} "
                "(include paths are relative to the including file)",
                self._innermost_location(),
            )
        self._exec_file(path)

    def _exec_file(self, path: str) -> None:
        try:
            with open(path, "rb") as handle:
                source = handle.read()
        except OSError as error:
            raise ConfigError(f"cannot read config file: {error}", path) from None
        self.files.append(path)
        with self._entered(path):
            # As bytes: Python then reads a UTF-8 byte-order mark and a PEP 263 coding line
            # the way Aurora's Python 2 did.
            code = compile(source, path, "exec", dont_inherit=True)
            exec(code, self.namespace)

    @contextmanager
    def _entered(self, path: str) -> Iterator[None]:
        self._stack.append(path)
        try:
            yield
        finally:
            self._stack.pop()

    def _innermost_location(self) -> str | None:
        """file:line of the innermost config frame being executed right now."""
        for entry in reversed(traceback.extract_stack()):
            if entry.filename in self.files:
                return f"{entry.filename}:{entry.lineno}"
        return self._stack[-1] if self._stack else None


def python_error(error: BaseException, files: list[str]) -> ConfigError:
    """Describe an exception raised by config code at the innermost config line involved."""
    if isinstance(error, SyntaxError):
        where = f"{error.filename}:{error.lineno}" if error.filename else None
        return ConfigError(f"syntax error: {error.msg}", where)
    message = f"{type(error).__name__}: {error}"
    if isinstance(error, MemoryError):
        message = "MemoryError: the config used more memory than it is allowed while evaluating"
    location = None
    for entry in reversed(traceback.extract_tb(error.__traceback__)):
        if entry.filename in files:
            location = f"{entry.filename}:{entry.lineno}"
            break
    return ConfigError(message, location)


def load_json_jobs(path: str) -> list[dict[str, Any]]:
    """A JSON config: one job object, or `{"jobs": [...]}` as Aurora's --read-json took."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except OSError as error:
        raise ConfigError(f"cannot read config file: {error}", path) from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"invalid JSON: {error.msg}", f"{path}:{error.lineno}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"not UTF-8 text: {error}", path) from None
    if isinstance(document, dict) and "jobs" in document:
        document = document["jobs"]
        if not isinstance(document, list):
            raise ConfigError('"jobs" must be a list of job objects', path)
        jobs = document
    else:
        jobs = [document]
    for index, job in enumerate(jobs):
        if not isinstance(job, dict):
            raise ConfigError(f"job {index} must be a JSON object, not {type(job).__name__}", path)
    return jobs
