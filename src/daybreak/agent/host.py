"""The tasks on this machine: launched, watched, checked, measured, stopped and cleared away.

Everything runs on the agent's asyncio loop. Supervisors are synchronous; the host calls them
when a waiter's pidfd becomes readable, when a planned time comes, when a health check or a
measurement says so, or when the scheduler says to launch or kill. Each state change it
decides to report goes to `report`, which numbers it and keeps it until acknowledged.

On start the host re-attaches to every task under the work directory (`TaskSupervisor.
recover`), so `kill -9` of the agent costs the tasks nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import msgspec

from daybreak.agent.cgroups import (
    TaskCgroups,
    agent_cgroup_name,
    agent_directories,
    create_task_cgroups,
    machine_hierarchies,
)
from daybreak.agent.containers import Runtime
from daybreak.agent.containers import prepare as prepare_container
from daybreak.agent.executor.checkpoint import TaskLaunch
from daybreak.agent.executor.health import Health, HealthTracker
from daybreak.agent.executor.orphans import AGENT_CHILDREN, become_subreaper
from daybreak.agent.executor.planner import Phase
from daybreak.agent.executor.supervisor import TaskSupervisor
from daybreak.agent.executor.tree import ProcessTables
from daybreak.agent.identity import give_identity, task_environment
from daybreak.agent.images import ImageStore
from daybreak.agent.paths import TaskPaths, task_paths, tasks_dir
from daybreak.agent.probes import (
    SNOOZE_FILE,
    ask_to_stop,
    has_health_check,
    health_port,
    lifecycle_grace_ms,
    lifecycle_of,
    run_check,
)
from daybreak.agent.settings import AgentConfig
from daybreak.agent.sweeper import Sweeper
from daybreak.agent.task_users import TaskUserError, check_reachable, task_user
from daybreak.agent.tracked import Tracked, measure_usage, release
from daybreak.agent.usage import oom_message, over_limit
from daybreak.errors import DaybreakError
from daybreak.model import agent_protocol as protocol
from daybreak.model.agent import CONTAINERS_DIR
from daybreak.model.jobspec import HttpLifecycle, image_reference, with_container_overhead
from daybreak.model.render import render_task
from daybreak.model.task_state import TaskState

log = logging.getLogger("daybreak.agent")

# An adopted orphan that ended stays a zombie until then; zombies are never counted as alive.
REAP_INTERVAL_S = 1.0

TERMINAL_REPORTS = {
    Phase.SUCCESS: TaskState.FINISHED,
    Phase.FAILED: TaskState.FAILED,
    Phase.KILLED: TaskState.KILLED,
}

# (task id, state, message): a state change for the scheduler.
Reporter = Callable[[str, TaskState, str | None], None]


class TaskHost:
    def __init__(
        self, config: AgentConfig, agent_id: str, clock: Callable[[], int], report: Reporter
    ) -> None:
        self.config = config
        self.agent_id = agent_id
        self.clock = clock
        self.report = report
        self.tasks: dict[str, Tracked] = {}
        # Launches whose sandbox is being made, with the message of a kill that came meanwhile.
        self._preparing: dict[str, str | None] = {}
        self.process_tables = ProcessTables(time.monotonic, AGENT_CHILDREN.adopted)
        self.hierarchies = machine_hierarchies() if config.cgroups else []
        # Health checks open a connection each time, as Aurora's did; no proxy applies.
        self.http = httpx.AsyncClient(
            trust_env=False, limits=httpx.Limits(max_keepalive_connections=0)
        )
        self._group: asyncio.TaskGroup | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # start's: threads report through it
        # Tasks in images: None where this machine lacks a tool for them.
        self.runtime = Runtime.find(config.work_dir / CONTAINERS_DIR)
        self.images = ImageStore(config.work_dir / "images", config.insecure_registries,
                                 config.registry_credentials, config.default_registry)  # fmt: skip
        self.sweeper = Sweeper(config, self.tasks, self.images, clock)

    def capabilities(self) -> dict[str, str]:
        """What the machine can run, as attributes constraints can name."""
        return {} if self.runtime is None else self.runtime.attributes()

    def start(self, group: asyncio.TaskGroup) -> None:
        """Take back the tasks on disk, and run the host's work in `group`: whatever fails
        there ends the agent, loudly."""
        self._group = group
        self._loop = asyncio.get_running_loop()
        if not become_subreaper():
            log.warning("event=no_subreaper: orphans of tasks without cgroups may outlive them")
        self.recover()
        group.create_task(self._measure_periodically(), name="measure")
        group.create_task(self.sweeper.run(), name="collect-garbage")
        group.create_task(self._reap_orphans_periodically(), name="reap-orphans")

    def _own(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        assert self._group is not None, "TaskHost.start first"
        return self._group.create_task(work)

    async def close(self) -> None:
        """After the group has ended. A launch it cut short left its sandbox and checkpoint
        (the thread making them ran to its end): the next start recovers the task from them."""
        for tracked in self.tasks.values():
            self._unwatch(tracked)
        await self.http.aclose()
        # The agent's own cgroup directories go when no task is left in them.
        for directory in agent_directories(self.hierarchies, self.agent_id):
            with contextlib.suppress(OSError):
                directory.rmdir()

    def recover(self) -> None:
        now = self.clock()
        for root in sorted(tasks_dir(self.config.work_dir).iterdir()):
            paths = TaskPaths(root)
            if not paths.checkpoint.exists():
                continue
            try:
                supervisor = TaskSupervisor.recover(paths, now)
            except (OSError, msgspec.DecodeError, ValueError) as error:
                log.error("task=%s event=recover_failed error=%r", root.name, error)
                continue
            reported = supervisor.view.reported
            cgroups = TaskCgroups.from_procs_files(supervisor.launch.cgroup_procs)
            tracked = Tracked(supervisor, cgroups, reported)
            self.tasks[supervisor.task_id] = tracked
            log.info("task=%s event=recovered phase=%s", root.name, supervisor.planner.phase)
            self._advance(tracked)
            if supervisor.planner.phase is Phase.ACTIVE:
                # Checks start over; a task already reported healthy stays so until they fail.
                self._check_health(tracked, healthy=reported is TaskState.RUNNING)
                self._check_oom(tracked)

    def inventory(self) -> dict[str, TaskState]:
        inventory = dict.fromkeys(self._preparing, TaskState.STARTING)
        for task_id, tracked in self.tasks.items():
            inventory[task_id] = tracked.reported or TaskState.STARTING
        return inventory

    def usage(self) -> tuple[protocol.TaskUsage, ...]:
        return tuple(
            tracked.usage
            for tracked in self.tasks.values()
            if tracked.usage is not None and not tracked.supervisor.finished
        )

    # Launching and stopping.

    def launch(self, message: protocol.Launch, cluster: str = "") -> None:
        """Start a task the scheduler sent; `cluster` is the cluster's name, for its tasks."""
        task_id = message.task_id
        if task_id in self.tasks or task_id in self._preparing:
            return  # a launch sent again after a reconnect: already here
        now = self.clock()
        try:
            task = render_task(
                message.spec,
                instance=message.instance,
                hostname=self.config.hostname,
                task_id=task_id,
                ports=message.ports,
            )
        except DaybreakError as error:
            self._report_unrunnable(task_id, f"Cannot run the task: {error}")
            return
        try:
            user = task_user(message.spec.key.role, self.config.task_user, self.config.hostname)
            if user is not None:
                check_reachable(self.config.work_dir, user)
        except TaskUserError as error:
            self._report_unrunnable(task_id, f"Cannot run the task: {error}")
            return
        self._preparing[task_id] = None
        paths = task_paths(self.config.work_dir, task_id)
        launch = TaskLaunch(
            task=task,
            launched_ms=now,
            user=user,
            environment=task_environment(
                paths, cluster, self.config.scheduler_urls, self.config.ca_file
            ),
        )
        self._own(self._prepare_and_start(launch, message.credential))

    async def _prepare_and_start(self, launch: TaskLaunch, credential: str) -> None:
        # Making the sandbox and the cgroups and forking is nearly all of a launch's cost, and
        # most of it waits on the kernel: in worker threads, launches overlap and the loop
        # stays free for the messages and the tasks already running.
        task = launch.task
        try:
            prepared = await asyncio.to_thread(self._prepare, launch, credential)
        finally:
            kill_message = self._preparing.pop(task.task_id)
        if isinstance(prepared, str):
            self._report_unrunnable(task.task_id, prepared)
            return
        tracked = Tracked(*prepared)
        self.tasks[task.task_id] = tracked
        log.info("task=%s event=launch job=%s instance=%d", task.task_id, task.job, task.instance)
        if kill_message is not None:
            log.info("task=%s event=kill message=%s", task.task_id, kill_message)
            self._stop(tracked, kill_message, Phase.KILLED)
        else:
            self._check_health(tracked, healthy=False)
        self._advance(tracked)
        if tracked.reported is None:
            # Only a task that is not RUNNING at once says STARTING: the scheduler takes a
            # task from ASSIGNED to RUNNING directly, and one update is half the work of two.
            self._report(tracked, TaskState.STARTING, None)

    def _prepare(
        self, launch: TaskLaunch, credential: str
    ) -> tuple[TaskSupervisor, TaskCgroups] | str:
        """The task's cgroups and sandbox with its first processes started, or why they could
        not be made."""
        # In an image, the runtime's share is within the task's limits (as it is placed).
        resources = with_container_overhead(launch.task.task.resources, launch.task.container)
        task = launch.task.with_resources(resources)
        launch = msgspec.structs.replace(launch, task=task)
        cgroups = TaskCgroups(())
        if self.hierarchies:
            cgroups = create_task_cgroups(
                self.hierarchies,
                self.agent_id,
                task.task_id,
                task.task.resources,
                self.config.task_pids_max,
            )
        launch = msgspec.structs.replace(launch, cgroup_procs=cgroups.procs_files)
        paths = task_paths(self.config.work_dir, task.task_id)
        try:
            if image_reference(task.container) is not None:
                container = prepare_container(
                    self.runtime, self.images, paths, task,
                    cgroup=f"{agent_cgroup_name(self.agent_id)}/{task.task_id}",
                    progress=functools.partial(self._progress, task.task_id),
                )  # fmt: skip
                launch = msgspec.structs.replace(launch, container=container)
            supervisor = TaskSupervisor.create(paths, launch)
            give_identity(paths, credential, launch.user, self.config.ca_file)
        except (OSError, DaybreakError) as error:
            release(launch.container, cgroups)
            what = "the sandbox" if isinstance(error, OSError) else "the task's image"
            return f"Cannot prepare {what}: {error}"
        # The first processes start here too. Nothing else knows the task yet, and a new
        # task consults no process table: a private one keeps the shared one to the loop.
        with contextlib.suppress(OSError):  # the loop's next advance meets it again
            supervisor.advance(
                launch.launched_ms, ProcessTables(time.monotonic, AGENT_CHILDREN.adopted)
            )
        return supervisor, cgroups

    def _progress(self, task_id: str, message: str) -> None:
        """A launch's news (pulling its image), from the launch's thread."""
        assert self._loop is not None, "launches start after start()"
        self._loop.call_soon_threadsafe(self.report, task_id, TaskState.STARTING, message)

    def kill(self, message: protocol.Kill) -> None:
        if message.task_id in self._preparing:
            self._preparing[message.task_id] = message.message or "Killed"
            return
        tracked = self.tasks.get(message.task_id)
        if tracked is None:
            self.report(message.task_id, TaskState.LOST, "Task unknown to this agent")
            return
        log.info("task=%s event=kill message=%s", message.task_id, message.message)
        self._stop(tracked, message.message or "Killed", Phase.KILLED)

    def _report_unrunnable(self, task_id: str, reason: str) -> None:
        log.error("task=%s event=unrunnable reason=%s", task_id, reason)
        self.report(task_id, TaskState.FAILED, reason)

    def _stop(self, tracked: Tracked, message: str, outcome: Phase) -> None:
        """End an active task: first through its lifecycle endpoints, if it has them, then by
        signals. The planner holds the signals back for as long as the endpoints may take."""
        supervisor = tracked.supervisor
        if supervisor.planner.phase is not Phase.ACTIVE:
            return
        lifecycle = lifecycle_of(tracked.task)
        grace_ms = 0 if lifecycle is None else lifecycle_grace_ms(lifecycle[0])
        supervisor.request_kill(message, self.clock(), outcome, grace_ms)
        self._advance(tracked)
        if lifecycle is not None and not tracked.stopped.is_set():
            self._spawn(tracked, self._ask_to_stop(tracked, *lifecycle))

    async def _ask_to_stop(self, tracked: Tracked, http: HttpLifecycle, port: int) -> None:
        await ask_to_stop(self.http, port, http, tracked.stopped)
        tracked.supervisor.terminate_now(self.clock())
        self._advance(tracked)

    def _spawn(self, tracked: Tracked, work: Coroutine[None, None, None]) -> None:
        helper = self._own(work)
        tracked.helpers.add(helper)
        helper.add_done_callback(tracked.helpers.discard)

    # Health.

    def _check_health(self, tracked: Tracked, healthy: bool) -> None:
        if not has_health_check(tracked.task):
            return
        tracker = HealthTracker(tracked.task.health_check, started_ms=self.clock())
        if healthy:
            tracker.health = Health.HEALTHY
        tracked.health = tracker
        self._spawn(tracked, self._run_health_checks(tracked, tracker))

    async def _run_health_checks(self, tracked: Tracked, tracker: HealthTracker) -> None:
        task = tracked.task
        snooze = tracked.supervisor.paths.sandbox / SNOOZE_FILE
        while (due := tracker.next_check_ms()) is not None:
            await asyncio.sleep(max(0, due - self.clock()) / 1000)
            if tracked.supervisor.planner.phase is not Phase.ACTIVE:
                return
            if snooze.exists():
                healthy, reason = True, None
            else:
                healthy, reason = await run_check(
                    task.health_check.checker,
                    task.health_check.timeout_secs,
                    self.http,
                    tracked.supervisor.launcher,
                    health_port(task),
                )
            if tracked.supervisor.planner.phase is not Phase.ACTIVE:
                return
            before = tracker.health
            after = tracker.record(healthy, reason)
            if after is Health.UNHEALTHY:
                log.warning("task=%s event=unhealthy reason=%s", task.task_id, tracker.reason)
                self._stop(tracked, f"Failed health check! {tracker.reason}", Phase.FAILED)
            elif after is not before:
                self._report_progress(tracked)

    # Limits and usage.

    def _check_oom(self, tracked: Tracked) -> bool:
        """Stop the task if the kernel killed any of its processes for its memory limit."""
        kills = tracked.cgroups.oom_kills()
        if kills and tracked.supervisor.planner.phase is Phase.ACTIVE:
            message = oom_message(tracked.task.task.resources, kills)
            log.warning("task=%s event=limit reason=%s", tracked.supervisor.task_id, message)
            self._stop(tracked, message, Phase.FAILED)
            return True
        return False

    async def _measure_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.config.usage_interval_s)
            active = [t for t in self.tasks.values() if not t.supervisor.finished]
            # Walking sandboxes and reading /proc blocks: off the loop.
            usages = await asyncio.to_thread(measure_usage, active)
            for tracked, usage in zip(active, usages, strict=True):
                tracked.usage = usage
                if tracked.supervisor.planner.phase is not Phase.ACTIVE:
                    continue
                if self._check_oom(tracked):
                    continue
                reason = over_limit(
                    usage, tracked.task.task.resources, tracked.cgroups.memory_limited
                )
                if reason is not None:
                    log.warning("task=%s event=limit reason=%s", usage.task_id, reason)
                    self._stop(tracked, reason, Phase.FAILED)

    # Clearing away.

    async def _reap_orphans_periodically(self) -> None:
        """Orphans the agent adopted (see `orphans.py`) are its to reap when they end."""
        while True:
            await asyncio.sleep(REAP_INTERVAL_S)
            AGENT_CHILDREN.reap()

    # Carrying out the planner's decisions.

    def _advance(self, tracked: Tracked) -> None:
        supervisor = tracked.supervisor
        if tracked.timer is not None:
            tracked.timer.cancel()
            tracked.timer = None
        try:
            wake = supervisor.advance(self.clock(), self.process_tables)
        except OSError as error:
            log.exception("task=%s event=advance_failed", supervisor.task_id)
            supervisor.request_kill(f"The agent could not run the task: {error}", self.clock())
            wake = self.clock()
        self._watch(tracked)
        self._report_progress(tracked)
        if wake is not None:
            delay = max(0.0, (wake - self.clock()) / 1000)
            tracked.timer = asyncio.get_running_loop().call_later(delay, self._advance, tracked)

    def _watch(self, tracked: Tracked) -> None:
        loop = asyncio.get_running_loop()
        for pid in list(tracked.supervisor.waiters):
            if pid in tracked.pidfds:
                continue
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                self._waiter_gone(tracked, pid)
                continue
            tracked.pidfds[pid] = fd
            loop.add_reader(fd, self._waiter_exited, tracked, pid)

    def _unwatch(self, tracked: Tracked) -> None:
        loop = asyncio.get_running_loop()
        for fd in tracked.pidfds.values():
            loop.remove_reader(fd)
            os.close(fd)
        tracked.pidfds.clear()
        if tracked.timer is not None:
            tracked.timer.cancel()
        for helper in tracked.helpers:
            helper.cancel()

    def _waiter_exited(self, tracked: Tracked, pid: int) -> None:
        fd = tracked.pidfds.pop(pid)
        asyncio.get_running_loop().remove_reader(fd)
        os.close(fd)
        self._waiter_gone(tracked, pid)
        # A run killed by the kernel for the task's memory limit ends the task.
        if not self._check_oom(tracked):
            self._advance(tracked)

    def _waiter_gone(self, tracked: Tracked, pid: int) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # ours unless we were restarted since it started
        AGENT_CHILDREN.forget(pid)
        tracked.supervisor.waiter_exited(pid, self.clock())

    def _report_progress(self, tracked: Tracked) -> None:
        supervisor = tracked.supervisor
        phase = supervisor.planner.phase
        if phase not in (Phase.ACTIVE, Phase.CLEANING):
            tracked.stopped.set()
        if phase in TERMINAL_REPORTS:
            self._report(tracked, TERMINAL_REPORTS[phase], supervisor.planner.message)
            if not supervisor.waiters:
                # Waiters of runs killed at the end are still watched, to be reaped and
                # recorded; once they are gone the task holds no descriptor.
                self._unwatch(tracked)
                supervisor.close()
                # Emptying a memory cgroup reclaims its page cache: not on the loop.
                self._own(asyncio.to_thread(tracked.release))
        elif (
            phase is Phase.ACTIVE
            and tracked.reported in (None, TaskState.STARTING)
            and (tracked.health is None or tracked.health.health is Health.HEALTHY)
        ):
            self._report(tracked, TaskState.RUNNING, None)

    def _report(self, tracked: Tracked, state: TaskState, message: str | None) -> None:
        if tracked.reported == state:
            return
        tracked.reported = state
        paths = tracked.supervisor.paths
        if state is not TaskState.STARTING:  # a launched task is STARTING until it says more
            tracked.supervisor.reported(state, self.clock())
        log.info("task=%s event=status state=%s message=%s", paths.task_id, state, message)
        self.report(paths.task_id, state, message)
