"""Daybreak's errors: each names what went wrong and maps once to an exit code.

DaybreakError
├── ConfigError        a job config could not be loaded or is invalid (exit 3)
├── InvalidCommandError     the command line itself is malformed (exit 5)
├── InvalidParameterError   an argument is malformed, e.g. a job key or a --bind (exit 6)
│   ├── UnknownHostError    (daybreak.core.agents) no agent of that id or hostname
│   └── UnknownTierError    (daybreak.model.tiers) a job names a tier the scheduler lacks
└── QuotaExceededError      (daybreak.core.quota) a role's production quota would be exceeded
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import NamedTuple


class ExitCode(IntEnum):
    """Aurora's client exit codes, which scripts already rely on."""

    OK = 0
    INVALID_CONFIGURATION = 3
    COMMAND_FAILURE = 4
    INVALID_COMMAND = 5
    INVALID_PARAMETER = 6
    NETWORK_ERROR = 7
    TIMEOUT = 9
    API_ERROR = 10
    UNKNOWN_ERROR = 20
    AUTH_ERROR = 30
    INTERRUPTED = 130


class DaybreakError(Exception):
    exit_code: ExitCode = ExitCode.COMMAND_FAILURE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigIssue(NamedTuple):
    """One thing wrong with a config.

    `where` is `file:line` for a Python error or a field path (`Job.task.resources.ram`) for a
    schema error; `problem` says what is wrong and, where it helps, what to do about it.
    """

    where: str | None
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}" if self.where else self.problem


class ConfigError(DaybreakError):
    """A config that cannot become a JobSpec; it lists every issue found, not just the first."""

    exit_code = ExitCode.INVALID_CONFIGURATION

    def __init__(
        self, problem: str, where: str | None = None, *, more: Sequence[ConfigIssue] = ()
    ) -> None:
        self.issues = [ConfigIssue(where, problem), *more]
        super().__init__("\n".join(map(str, self.issues)))

    @classmethod
    def of(cls, issues: Sequence[ConfigIssue]) -> ConfigError:
        first, *rest = issues
        return cls(first.problem, first.where, more=rest)


class InvalidCommandError(DaybreakError):
    exit_code = ExitCode.INVALID_COMMAND


class InvalidParameterError(DaybreakError):
    exit_code = ExitCode.INVALID_PARAMETER


class NetworkError(DaybreakError):
    """The scheduler could not be reached."""

    exit_code = ExitCode.NETWORK_ERROR


class ApiError(DaybreakError):
    """The scheduler refused the request; its message says why."""

    exit_code = ExitCode.API_ERROR


class AuthError(DaybreakError):
    exit_code = ExitCode.AUTH_ERROR
