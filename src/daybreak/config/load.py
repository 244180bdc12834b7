"""Loading a config file into JobSpecs: the entry point the CLI and tests use.

Evaluation runs in a child process under a time and memory limit (`isolation.py`); what comes
back is plain data: per job, its key and either its JobSpec or the issues that stop it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
from pystachio import Empty

from daybreak.config import schema
from daybreak.config.bindings import as_pystachio
from daybreak.config.convert import HOOKS_UNSUPPORTED, convert_job
from daybreak.config.evaluate import ConfigEvaluator, load_json_jobs
from daybreak.config.from_json import struct_from_json
from daybreak.config.isolation import Limits, run_isolated
from daybreak.errors import ConfigError, ConfigIssue
from daybreak.model.jobspec import JobKey, JobSpec

MISSING = "{MISSING}"
KEY_FIELDS = ("cluster", "role", "environment", "name")


class Issue(msgspec.Struct, frozen=True):
    where: str | None
    problem: str

    def __str__(self) -> str:
        return str(ConfigIssue(self.where, self.problem))


class LoadedJob(msgspec.Struct, frozen=True):
    """One job of a config: its key as far as it is known, and its spec or what is wrong."""

    key: str
    spec: JobSpec | None = None
    issues: tuple[Issue, ...] = ()

    def require(self) -> JobSpec:
        if self.spec is None:
            raise ConfigError.of([ConfigIssue(i.where, i.problem) for i in self.issues])
        return self.spec


class _Outcome(msgspec.Struct):
    jobs: list[LoadedJob] = []
    issues: list[Issue] = []


def _issues(error: ConfigError) -> list[Issue]:
    return [Issue(issue.where, issue.problem) for issue in error.issues]


def _key_part(job: Any, field: str) -> str:
    try:
        value = getattr(job, field)()
        if value is Empty:
            return MISSING
        return str(value.get())
    except Exception:
        return MISSING


def _entry(job: Any, bindings: Mapping[str, str], only: str | None) -> LoadedJob:
    if bindings:
        job = job.bind(as_pystachio(dict(bindings)))
    parts = {field: _key_part(job, field) for field in KEY_FIELDS}
    key = "/".join(parts.values())
    missing = [field for field, part in parts.items() if part == MISSING]
    if missing:
        problem = (
            f"required: a job's key is cluster/role/environment/name, and this job has no "
            f"{' or '.join(missing)}"
        )
        return LoadedJob(key=key, issues=(Issue(f"Job.{missing[0]}", problem),))
    if only is not None and key != only:
        return LoadedJob(key=key)  # not asked for: not converted
    try:
        spec = convert_job(job)
        # msgspec checks types when decoding, not when building: check now, in the child.
        return LoadedJob(key=key, spec=msgspec.json.decode(msgspec.json.encode(spec), type=JobSpec))
    except ConfigError as error:
        return LoadedJob(key=key, issues=tuple(_issues(error)))
    except RecursionError:
        problem = "nested too deeply to check (a value that contains itself?)"
        return LoadedJob(key=key, issues=(Issue("Job", problem),))
    except Exception as error:  # a gap in our checks: say so, but never with a traceback
        problem = f"internal error while checking this job ({type(error).__name__}: {error})"
        return LoadedJob(key=key, issues=(Issue("Job", problem),))


def _pystachio_jobs(path: str, read_json: bool) -> list[Any]:
    if read_json:
        return [
            struct_from_json(schema.Job, job, f"{path}: jobs[{index}]")
            for index, job in enumerate(load_json_jobs(path))
        ]
    namespace = ConfigEvaluator().run(path)
    if namespace.get("hooks"):
        raise ConfigError(f"hooks: {HOOKS_UNSUPPORTED}", path)
    jobs = namespace.get("jobs")
    if not jobs:
        raise ConfigError("no job defined: the file must set jobs = [Job(...), ...]", path)
    if not isinstance(jobs, list | tuple):
        raise ConfigError(f"jobs must be a list of Job(...), not {type(jobs).__name__}", path)
    for index, job in enumerate(jobs):
        if not isinstance(job, schema.MesosJob):
            raise ConfigError(
                f"jobs[{index}] is {type(job).__name__}, not a Job (or Service)", path
            )
    return list(jobs)


def _evaluate(path: str, bindings: Mapping[str, str], read_json: bool, only: str | None) -> bytes:
    try:
        jobs = _pystachio_jobs(path, read_json)
        outcome = _Outcome(jobs=[_entry(job, bindings, only) for job in jobs])
    except ConfigError as error:
        outcome = _Outcome(issues=_issues(error))
    return msgspec.json.encode(outcome)


def load_config(
    path: str | os.PathLike[str],
    bindings: Mapping[str, str] | None = None,
    *,
    read_json: bool = False,
    limits: Limits | None = None,
    only: JobKey | None = None,
) -> list[LoadedJob]:
    """Every job a config file defines; raises ConfigError if the file itself is broken. With
    `only`, the other jobs are listed by key but not converted (nor checked)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError("no such config file", path)
    reply = run_isolated(
        lambda: _evaluate(path, bindings or {}, read_json, None if only is None else str(only)),
        limits or Limits(),
        path,
    )
    try:
        outcome = msgspec.json.decode(reply, type=_Outcome)
    except msgspec.ValidationError as error:
        raise ConfigError(f"internal error reading the evaluated config: {error}", path) from None
    if outcome.issues:
        raise ConfigError.of([ConfigIssue(i.where, i.problem) for i in outcome.issues])
    return outcome.jobs


def load_job(
    path: str | os.PathLike[str],
    key: JobKey,
    bindings: Mapping[str, str] | None = None,
    *,
    read_json: bool = False,
    images: Callable[[str, str], str] | None = None,
) -> JobSpec:
    """The job `key` of a config file, converting (and checking) only that one. With `images`,
    `{{docker.image[NAME][TAG]}}` is bound to `images(NAME, TAG)` (Aurora's binding helper:
    the image pinned to its digest in the cluster's registry)."""
    jobs = load_config(path, bindings, read_json=read_json, only=key)
    wanted = [] if images is None else _docker_images(jobs, key)
    if images is None or not wanted:
        return pick_job(jobs, key)
    pinned = {f"docker.image[{name}][{tag}]": images(name, tag) for name, tag in wanted}
    return load_job(path, key, {**(bindings or {}), **pinned}, read_json=read_json)


def _docker_images(jobs: Sequence[LoadedJob], key: JobKey) -> list[tuple[str, str]]:
    """The (name, tag) of every `{{docker.image[NAME][TAG]}}` job `key` left unbound."""
    found = [
        (match[1], match[2])
        for job in jobs
        if job.key == str(key)
        for issue in job.issues
        if (match := DOCKER_IMAGE_UNBOUND.search(issue.problem))
    ]
    return sorted(set(found))


DOCKER_IMAGE_UNBOUND = re.compile(
    r"^unbound variable \{\{docker\.image\[([^\]]+)\]\[([^\]]+)\]\}\}"
)


def pick_job(jobs: Sequence[LoadedJob], key: JobKey) -> JobSpec:
    """The one job whose key is `key`; errors list the candidates, as Aurora's did."""
    matches = [job for job in jobs if job.key == str(key)]
    candidates = "\n".join(
        f"  {job.key}" + (f"  ({job.issues[0]})" if MISSING in job.key else "") for job in jobs
    )
    if not matches:
        raise ConfigError(f"no job {key} in this config. Candidates are:\n{candidates}")
    if len(matches) > 1:
        raise ConfigError(f"several jobs match {key}; job keys must be unique:\n{candidates}")
    return matches[0].require()
