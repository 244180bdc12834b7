"""Starting one run of a process under a waiter that records how it ended.

Each run is `bash -c CMDLINE` in the task's sandbox, with a small fixed environment. A
`.thermos_profile` in the sandbox is sourced by bash before the command (through `BASH_ENV`, as
Thermos did), so one process can pass variables to the ones after it. A command line that
holds nothing a shell would act on (`sleep 600`, `python3 -m http.server 8080`) is run as its
words, without bash, when there is no profile to source: bash would only have split it and
exec'd the command, at the cost of its own start.

The run's parent is a waiter: a POSIX shell of about 100 KB that starts the command, waits for
it and writes its exit status to a file. The waiter, not the agent, is the parent that the
kernel tells how the command ended, so the status survives the agent being killed and
restarted; a Python runner per task would cost megabytes for the same job. The waiter first
reads one line from a pipe: the agent places it in the task's cgroups before letting it go,
so nothing the command starts escapes them.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from daybreak.agent.containers import (
    EXEC_ENVIRONMENT,
    ContainerLaunch,
    exec_words,
    inside_environment,
)
from daybreak.agent.executor.orphans import AGENT_CHILDREN
from daybreak.agent.executor.tree import TASK_MARKER
from daybreak.agent.paths import TaskPaths
from daybreak.model.agent import SANDBOX_MOUNT
from daybreak.model.jobspec import Logger, Process, TaskInstance
from daybreak.model.units import is_number

STREAMS = ("stdout", "stderr")
DEFAULT_LOGGER = Logger()
FALLBACK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BASH = shutil.which("bash") or "/bin/sh"
WAITER_SHELL = shutil.which("dash") or "/bin/sh"
WAITER_NAME = "daybreak-waiter"  # $0: how the waiter names itself in `ps` and its errors
# $1 is the command line, $2 the file its exit status goes to, and the words after them, if
# any, the command to run as it is (the command line is then not needed).
# The trap (a handler, not SIG_IGN, so the command still gets default dispositions) lets the
# waiter outlive the SIGTERM sent to its process group and record the command's status.
WAITER_SCRIPT = (
    "trap : TERM INT HUP\n"
    "read -r go || exit 125\n"
    "exit_file=$2\n"
    'if [ "$#" -gt 2 ]; then shift 2; "$@" </dev/null; '
    'else "$DAYBREAK_BASH" -c "$1" </dev/null; fi\n'
    'echo "$?" > "$exit_file"\n'
)
# Words of characters that mean nothing to a shell, separated by blanks (not newlines).
_PLAIN_LINE = re.compile(r"[A-Za-z0-9_@%+=:,./ \t-]*")
# What bash runs itself rather than exec'ing: a command line starting with one needs bash.
_BASH_OWN = (
    ". : [ alias bg bind break builtin caller cd command compgen complete compopt continue "
    "declare dirs disown echo enable eval exec exit export false fc fg getopts hash help "
    "history jobs kill let local logout mapfile popd printf pushd pwd read readarray readonly "
    "return set shift shopt source suspend test times trap true type typeset ulimit umask "
    "unalias unset wait if then else elif fi case esac for select while until do done in "
    "function time { } ! [[ ]] coproc"
)
_BASH_OWN_WORDS = frozenset(_BASH_OWN.split())


@dataclass(frozen=True, slots=True)
class StartedRun:
    pid: int  # the waiter's
    exit_file: Path


@dataclass(frozen=True)
class Launcher:
    """Everything a run needs that does not change between runs of a task."""

    paths: TaskPaths
    task: TaskInstance
    user: str | None
    cgroup_procs: tuple[str, ...]
    extra_environment: Mapping[str, str] = field(default_factory=dict)
    # Runs enter this container instead of running on the machine.
    container: ContainerLaunch | None = None

    @cached_property
    def account(self) -> pwd.struct_passwd | None:
        return account_of(self.user)

    @cached_property
    def identity(self) -> tuple[int, int, list[int]] | None:
        """The user, group and groups a run takes on; None where they are the agent's own
        already, which spares the switch and lets the waiter be started with a cheap vfork."""
        account = self.account
        if account is None or self.container is not None:
            return None  # a container's runs are entered as root, then become the user
        uid, gid = account.pw_uid, account.pw_gid
        groups = os.getgrouplist(account.pw_name, gid)
        if (
            os.getresuid() == (uid, uid, uid)
            and os.getresgid() == (gid, gid, gid)
            # The primary group grants the same whether or not it is also supplementary.
            and set(os.getgroups()) | {gid} == set(groups) | {gid}
        ):
            return None
        return uid, gid, groups

    @cached_property
    def environment(self) -> dict[str, str]:
        """What every run of the task gets; a run adds BASH_ENV when a profile exists."""
        env = {
            **self.extra_environment,
            "PATH": os.environ.get("PATH", FALLBACK_PATH),
            "MESOS_SANDBOX": str(self.paths.root),
            TASK_MARKER: self.task.task_id,
            "DAYBREAK_SANDBOX": str(self.paths.sandbox),
            "DAYBREAK_INSTANCE": str(self.task.instance),
            "DAYBREAK_HOSTNAME": self.task.hostname,
        }
        for name in ("LANG", "LC_ALL", "TZ"):
            if name in os.environ:
                env[name] = os.environ[name]
        for port_name, number in self.task.ports.items():
            env[f"DAYBREAK_PORT_{port_name.upper()}"] = str(number)
        account = self.account or _current_account()
        if account is not None:
            env.update(HOME=account.pw_dir, USER=account.pw_name, LOGNAME=account.pw_name)
        env["DAYBREAK_BASH"] = BASH
        return env

    def process(self, name: str) -> Process:
        return next(p for p in self.task.task.processes if p.name == name)

    def start(self, name: str, run: int) -> StartedRun:
        spec = self.process(name)
        logger = spec.logger or DEFAULT_LOGGER
        env = dict(self.environment)
        profile = self.paths.sandbox / ".thermos_profile"
        command = spec.cmdline
        words: list[str] = []
        if self.container is not None:
            words = self.in_container(spec.cmdline, profile.exists())
            env.update(EXEC_ENVIRONMENT)
            if logger.destination == "both":
                # The console copy is made on the machine: the image may have no `tee`.
                command, words = shlex.join(words), []
        elif profile.exists():
            env["BASH_ENV"] = str(profile)
        elif logger.destination != "both":
            words = plain_words(spec.cmdline)
        # The run's directory holds its exit status whatever the logger: made once, here.
        self.paths.run_dir(name, run).mkdir(exist_ok=True)
        exit_file = self.paths.exit_file(name, run)
        outputs = [self._output(name, run, stream, logger) for stream in STREAMS]
        identity = self.identity
        if identity is not None:
            # The waiter runs as the task's user: give it a file it may write.
            exit_file.write_bytes(b"")
            os.chown(exit_file, identity[0], identity[1])
        try:
            with AGENT_CHILDREN.starting() as register:
                waiter = subprocess.Popen(
                    [
                        WAITER_SHELL,
                        "-c",
                        WAITER_SCRIPT,
                        WAITER_NAME,
                        self._command(command, logger),
                        str(exit_file),
                        *words,
                    ],
                    stdin=subprocess.PIPE,
                    stdout=outputs[0],
                    stderr=outputs[1],
                    cwd=self.paths.sandbox,
                    env=env,
                    start_new_session=True,
                    user=None if identity is None else identity[0],
                    group=None if identity is None else identity[1],
                    extra_groups=None if identity is None else identity[2],
                )
                register(waiter.pid)
        finally:
            for output in outputs:
                os.close(output)
        assert waiter.stdin is not None
        pid = str(waiter.pid).encode()
        for procs in self.cgroup_procs:
            descriptor = os.open(procs, os.O_WRONLY)
            try:
                os.write(descriptor, pid)
            finally:
                os.close(descriptor)
        waiter.stdin.write(b"go\n")
        waiter.stdin.close()
        # The agent watches the waiter through a pidfd and reaps it itself.
        waiter.returncode = 0
        return StartedRun(pid=waiter.pid, exit_file=exit_file)

    def in_container(self, cmdline: str, profile: bool = False) -> list[str]:
        """What runs `cmdline` in the task's container, as the task's user (a run, a check)."""
        assert self.container is not None
        account = self.account
        return exec_words(
            self.container,
            cwd=f"{SANDBOX_MOUNT}/sandbox",
            environment=inside_environment(self.environment, self.paths.root),
            user=None if account is None else (account.pw_uid, account.pw_gid),
            # The image's shell is sh: the profile is sourced as Thermos' bash would.
            command=f". ./.thermos_profile\n{cmdline}" if profile else cmdline,
        )

    def _output(self, name: str, run: int, stream: str, logger: Logger) -> int:
        if logger.destination == "none":
            return os.open(os.devnull, os.O_WRONLY)
        if logger.destination == "console":
            path = self.paths.console(stream)
        else:  # "file", and "both", whose console copy `_command` adds
            path = self.paths.process_log(name, run, stream)
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _command(self, cmdline: str, logger: Logger) -> str:
        if logger.destination != "both":
            return cmdline
        # Output goes to the run's files and, through a `tee` per stream, to the console ones.
        stdout, stderr = (shlex.quote(str(self.paths.console(s))) for s in STREAMS)
        return f"exec > >(tee -a {stdout}) 2> >(tee -a {stderr} >&2)\n{cmdline}"


def plain_words(cmdline: str) -> list[str]:
    """The command line's words if a shell would do nothing with it but split it and exec
    them; otherwise none."""
    if not _PLAIN_LINE.fullmatch(cmdline):
        return []
    words = cmdline.split()
    if not words or words[0] in _BASH_OWN_WORDS or "=" in words[0]:
        return []
    return words


def read_exit_status(exit_file: Path) -> int | None:
    """The status the waiter wrote, or None if it died before writing one."""
    try:
        text = exit_file.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if is_number(text.lstrip("-")) else None


def account_of(user: str | None) -> pwd.struct_passwd | None:
    if user is None:
        return None
    try:
        return pwd.getpwnam(user)
    except KeyError:
        return None


def _current_account() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwuid(os.getuid())
    except KeyError:
        return None
