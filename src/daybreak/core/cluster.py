"""The scheduler's state and every change to it: tasks, agents, and their side effects.

`Cluster` is the one place task records change. Each public method takes the time as `now`,
changes the state in memory and returns the effects (`daybreak.core.effects`) the shell must
carry out. It holds no clock and does no I/O, so a test drives it with plain integers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import msgspec

from daybreak.core.effects import DeleteTask, Effect, KillTask, LaunchTask, SaveTask
from daybreak.core.fleet import Fleet, Holding, demand
from daybreak.core.ids import IdSource, SequentialIds
from daybreak.core.placement import PendingReason
from daybreak.core.pruning import next_prune_ms, prunable
from daybreak.core.quota import QuotaUse
from daybreak.core.reconcile import reconcile
from daybreak.core.settings import Settings
from daybreak.core.task_lifecycle import DELETED, Action, State, TaskFacts, transition
from daybreak.core.throttle import flapping_penalty_ms
from daybreak.model.agent import AgentInfo, MaintenanceMode
from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.model.task import ScheduledTask, TaskEvent
from daybreak.model.task_state import (
    AGENT_ASSIGNED_STATES,
    BEING_KILLED_STATES,
    PLACED_STATES,
    TERMINAL_STATES,
    TRANSIENT_STATES,
    TaskState,
)
from daybreak.model.tiers import check_tier

S = TaskState


@dataclass(frozen=True, slots=True)
class Reservation:
    task_id: str
    until_ms: int


class Cluster:
    def __init__(
        self,
        settings: Settings | None = None,
        ids: IdSource | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.ids: IdSource = ids or SequentialIds()
        self.tasks: dict[str, ScheduledTask] = {}
        self.fleet = Fleet()
        self.by_job: dict[JobKey, dict[str, None]] = {}
        # Task ids per state, in the order they entered it (dicts as ordered sets).
        self.by_state: dict[TaskState, dict[str, None]] = {state: {} for state in TaskState}
        self.holdings: dict[str, Holding] = {}
        self.by_row: dict[int, dict[str, None]] = {}  # agent row -> ids of the tasks it holds
        self.throttled_until: dict[str, int] = {}
        self.partition_deadline: dict[str, int] = {}
        self.kill_sent_ms: dict[str, int] = {}
        self.reservations: dict[int, Reservation] = {}  # agent row -> the task it is held for
        self.pending_reasons: dict[str, PendingReason] = {}
        self.quota_use = QuotaUse()
        # Ended tasks by job, and when each job's history may next be pruned: a round prunes
        # only the jobs that are due, instead of walking every task of every job with history.
        self.ended_by_job: dict[JobKey, dict[str, None]] = {}
        self.prune_due_ms: dict[JobKey, int] = {}
        self._effects: list[Effect] = []

    # -- reading -------------------------------------------------------------------------------

    def job_tasks(self, key: JobKey) -> list[ScheduledTask]:
        return [self.tasks[task_id] for task_id in self.by_job.get(key, ())]

    def _ended(self, key: JobKey) -> list[ScheduledTask]:
        return [self.tasks[task_id] for task_id in self.ended_by_job.get(key, ())]

    def in_state(self, *states: TaskState) -> list[ScheduledTask]:
        """Tasks in any of `states`, state by state in the enum's order (never a set's order,
        which changes with the interpreter's string hashing)."""
        wanted = set(states)
        return [
            self.tasks[task_id]
            for state in TaskState
            if state in wanted
            for task_id in self.by_state[state]
        ]

    def on_agent(self, agent_id: str) -> list[ScheduledTask]:
        row = self.fleet.index.get(agent_id)
        if row is None:
            return []
        return [self.tasks[task_id] for task_id in self.by_row.get(row, ())]

    def job_rows(self, key: JobKey) -> list[int]:
        """The agent rows of the job's tasks that occupy an agent (for limit constraints)."""
        return [
            self.holdings[task_id].row
            for task_id in self.by_job.get(key, ())
            if task_id in self.holdings
        ]

    # -- the one way records change ------------------------------------------------------------

    def _drain(self) -> list[Effect]:
        effects, self._effects = self._effects, []
        return effects

    def _store(self, task: ScheduledTask) -> None:
        old = self.tasks.get(task.task_id)
        if old is not None:
            del self.by_state[old.state][task.task_id]
        self.quota_use.change(old, task)
        self.tasks[task.task_id] = task
        self.by_state[task.state][task.task_id] = None
        self.by_job.setdefault(task.job, {})[task.task_id] = None
        if task.state in TERMINAL_STATES and (old is None or old.state not in TERMINAL_STATES):
            self.ended_by_job.setdefault(task.job, {})[task.task_id] = None
            self.prune_due_ms[task.job] = 0  # one more ended: the excess may have grown
        if task.state in AGENT_ASSIGNED_STATES:
            self._hold(task)
        else:
            self._let_go(task.task_id)
        if task.state is not S.PENDING:
            self.pending_reasons.pop(task.task_id, None)
        if task.state is not S.PARTITIONED:
            self.partition_deadline.pop(task.task_id, None)
        if task.state is not S.THROTTLED:
            self.throttled_until.pop(task.task_id, None)
        if task.state not in BEING_KILLED_STATES:
            self.kill_sent_ms.pop(task.task_id, None)

    def _hold(self, task: ScheduledTask) -> None:
        if task.task_id in self.holdings or task.agent_id not in self.fleet.index:
            return
        row = self.fleet.index[task.agent_id]
        amount = demand(task.spec.task.resources, len(task.ports), task.spec.container)
        ports = tuple(task.ports.values())
        self.fleet.claim(row, amount, ports)
        self._held(Holding(task.task_id, row, amount, ports, task.spec))

    def _held(self, held: Holding) -> None:
        self.holdings[held.task_id] = held
        self.by_row.setdefault(held.row, {})[held.task_id] = None

    def _let_go(self, task_id: str) -> None:
        held = self.holdings.pop(task_id, None)
        if held is not None:
            self.fleet.release(held.row, held.amount, held.ports)
            del self.by_row[held.row][task_id]

    def _delete(self, task_id: str) -> None:
        task = self.tasks.pop(task_id)
        self.quota_use.change(task, None)
        self._let_go(task_id)
        del self.by_state[task.state][task_id]
        del self.by_job[task.job][task_id]
        if not self.by_job[task.job]:
            del self.by_job[task.job]
        ended = self.ended_by_job.get(task.job)
        if ended is not None:
            ended.pop(task_id, None)
            if not ended:
                del self.ended_by_job[task.job]
                self.prune_due_ms.pop(task.job, None)
        self.pending_reasons.pop(task_id, None)
        self.throttled_until.pop(task_id, None)
        self.partition_deadline.pop(task_id, None)
        self.kill_sent_ms.pop(task_id, None)
        self._effects.append(DeleteTask(task_id, task.job))

    def _record(self, task: ScheduledTask, state: TaskState, now: int, message: str | None,
                **changes: object) -> ScheduledTask:  # fmt: skip
        event = TaskEvent(timestamp_ms=now, state=state, message=message)
        return msgspec.structs.replace(task, state=state, events=(*task.events, event), **changes)

    def change_state(
        self, task_id: str, target: State, now: int, message: str | None = None
    ) -> bool:
        """Move a task through the state machine, carrying out the transition's actions.
        Returns whether the move was legal and made."""
        task = self.tasks.get(task_id)
        source: State = task.state if task is not None else DELETED
        facts = TaskFacts()
        if task is not None:
            facts = TaskFacts(
                is_service=task.spec.service,
                max_task_failures=task.spec.max_task_failures,
                failure_count=task.failure_count,
                # Only a partitioned task's rules ask; its history is not walked for others.
                was_killing=source is S.PARTITIONED
                and any(event.state is S.KILLING for event in task.events),
            )
        result = transition(source, target, facts)
        if task is None or not result.applied:
            if Action.KILL in result.actions and task is not None and task.agent_id:
                self._kill(task, now)
            return result.applied
        changed = task
        for action in result.actions:
            if action is Action.INCREMENT_FAILURES:
                changed = msgspec.structs.replace(changed, failure_count=changed.failure_count + 1)
            elif action is Action.SAVE_STATE:
                assert isinstance(target, TaskState)
                extra = {}
                if target is S.PARTITIONED:
                    extra["times_partitioned"] = changed.times_partitioned + 1
                changed = self._record(changed, target, now, message, **extra)
                self._store(changed)
                self._effects.append(SaveTask(changed))
                self._after_entering(changed, now)
            elif action is Action.RESCHEDULE:
                self._reschedule(changed, now)
            elif action is Action.TRANSITION_TO_LOST:
                self.change_state(task_id, S.LOST, now, "Action on a partitioned task: given up")
            elif action is Action.KILL:
                self._kill(changed, now)
            elif action is Action.DELETE:
                self._delete(task_id)
        return True

    def _after_entering(self, task: ScheduledTask, now: int) -> None:
        if task.state is S.PARTITIONED:
            policy = task.spec.partition_policy
            if policy is None or policy.reschedule:
                delay = 0 if policy is None else policy.delay_secs * 1000
                self.partition_deadline[task.task_id] = now + delay

    def _kill(self, task: ScheduledTask, now: int) -> None:
        if task.agent_id is not None:
            self.kill_sent_ms[task.task_id] = now
            self._effects.append(KillTask(task.task_id, task.agent_id))

    def _reschedule(self, task: ScheduledTask, now: int) -> None:
        fresh = ScheduledTask(
            task_id=self.ids.task_id(task.spec, task.instance),
            spec=task.spec,
            instance=task.instance,
            state=S.INIT,
            failure_count=task.failure_count,
            ancestor_id=task.task_id,
        )
        penalty = flapping_penalty_ms(fresh, self.tasks.get, self.settings.flapping)
        self._insert(fresh, now, penalty)

    def _insert(self, task: ScheduledTask, now: int, penalty_ms: int = 0) -> None:
        if penalty_ms > 0:
            message = f"Rescheduled, penalized for {penalty_ms:,} ms for flapping"
            stored = self._record(task, S.THROTTLED, now, message)
            self.throttled_until[task.task_id] = now + penalty_ms
        else:
            stored = self._record(task, S.PENDING, now, None)
        self._store(stored)
        self._effects.append(SaveTask(stored))

    def restore(
        self, agents: Iterable[tuple[AgentInfo, MaintenanceMode]], tasks: Iterable[ScheduledTask]
    ) -> None:
        """Take back what the store holds after a scheduler restart or a takeover. Agents are
        offline until they reconnect; their tasks hold their resources meanwhile. Deadlines
        kept only in memory carry on from the events they count from: a partition's, and a
        flapping penalty (the same penalty, judged again from the same history)."""
        for info, mode in agents:
            self.fleet.add(info)
            self.fleet.set_online(info.agent_id, False)
            self.fleet.set_maintenance(info.agent_id, mode)
        for task in tasks:
            self._store(task)
            self._after_entering(task, task.last_event_ms)
        for task in self.in_state(S.THROTTLED):
            penalty = flapping_penalty_ms(task, self.tasks.get, self.settings.flapping)
            self.throttled_until[task.task_id] = task.last_event_ms + penalty

    # -- jobs and tasks ------------------------------------------------------------------------

    def add_instances(self, spec: JobSpec, instances: Iterable[int], now: int) -> list[Effect]:
        """New PENDING tasks for `instances` of `spec` (a job create, or instances added)."""
        check_tier(spec)
        for instance in instances:
            task = ScheduledTask(
                task_id=self.ids.task_id(spec, instance), spec=spec, instance=instance,
                state=S.INIT,
            )  # fmt: skip
            self._insert(task, now)
        return self._drain()

    def kill_tasks(self, task_ids: Iterable[str], now: int, message: str) -> list[Effect]:
        for task_id in task_ids:
            self.change_state(task_id, S.KILLING, now, message)
        return self._drain()

    def restart_tasks(self, task_ids: Iterable[str], now: int, message: str) -> list[Effect]:
        for task_id in task_ids:
            self.change_state(task_id, S.RESTARTING, now, message)
        return self._drain()

    def status_update(
        self, agent_id: str, task_id: str, state: TaskState, now: int, message: str | None = None
    ) -> list[Effect]:
        """An agent reports a task's state. A report of a live task we consider over (or never
        knew) kills it there: that is how errant tasks die."""
        task = self.tasks.get(task_id)
        if task is None or task.agent_id not in (None, agent_id):
            # Unknown, or placed elsewhere: no copy of it may run on this agent.
            if state in AGENT_ASSIGNED_STATES:
                self._effects.append(KillTask(task_id, agent_id))
            return self._drain()
        self.change_state(task_id, state, now, message)
        return self._drain()

    # -- agents --------------------------------------------------------------------------------

    def register_agent(self, info: AgentInfo, now: int) -> list[Effect]:
        self.fleet.add(info)
        self.fleet.set_online(info.agent_id, True)
        return self._drain()

    def agent_lost(
        self, agent_id: str, now: int, message: str = "Agent unreachable"
    ) -> list[Effect]:
        """The agent went silent: its launches are lost, its running tasks partitioned."""
        if agent_id not in self.fleet.index:
            return []
        self.fleet.set_online(agent_id, False)
        for task in self.on_agent(agent_id):
            target = S.LOST if task.state is S.ASSIGNED else S.PARTITIONED
            self.change_state(task.task_id, target, now, message)
        self._expire_partitions(now)
        return self._drain()

    def drain_tasks(self, task_ids: Iterable[str], now: int) -> list[Effect]:
        """Move placed tasks off their draining agent (DRAINING); they are placed elsewhere."""
        for task_id in task_ids:
            if self.tasks[task_id].state in PLACED_STATES:
                self.change_state(task_id, S.DRAINING, now, "Draining the agent")
        return self._drain()

    def _expire_partitions(self, now: int) -> None:
        due = [tid for tid, deadline in self.partition_deadline.items() if deadline <= now]
        for task_id in due:
            self.change_state(task_id, S.LOST, now, "Partitioned past the job's partition policy")

    # -- time ----------------------------------------------------------------------------------

    def tick(self, now: int) -> list[Effect]:
        """Everything that happens because time passed."""
        for task_id, until in list(self.throttled_until.items()):
            if until <= now:
                self.change_state(task_id, S.PENDING, now, "Flapping penalty served")
        timeout = self.settings.transient_timeout_ms
        for task in self.in_state(*TRANSIENT_STATES):
            if task.last_event_ms + timeout <= now:
                self.change_state(task.task_id, S.LOST, now, "Task timed out")
        retry = self.settings.kill_retry_ms
        for task in self.in_state(*BEING_KILLED_STATES):
            if self.kill_sent_ms.get(task.task_id, task.last_event_ms) + retry <= now:
                self._kill(task, now)
        self._expire_partitions(now)
        for row, reservation in list(self.reservations.items()):
            if reservation.until_ms <= now or self.tasks.get(reservation.task_id) is None:
                del self.reservations[row]
        due = [key for key, at in self.prune_due_ms.items() if at <= now]
        for key in sorted(due, key=str):
            for task_id in prunable(self._ended(key), now, self.settings):
                self.change_state(task_id, DELETED, now)
            after = next_prune_ms(self._ended(key), self.settings)
            if after is not None:
                self.prune_due_ms[key] = after
        return self._drain()

    def drain_effects(self) -> list[Effect]:
        return self._drain()

    def assign(self, task_id: str, row: int, ports: dict[str, int], now: int) -> None:
        """A placement decision: the task goes to ASSIGNED on the agent of `row` and is launched.
        The agent's resources were already taken by placement."""
        task = self.tasks[task_id]
        info = self.fleet.infos[row]
        amount = demand(task.spec.task.resources, len(ports), task.spec.container)
        self._held(Holding(task_id, row, amount, tuple(ports.values()), task.spec))
        task = msgspec.structs.replace(
            task, agent_id=info.agent_id, hostname=info.hostname, ports=ports
        )
        self.tasks[task_id] = task
        self.change_state(task_id, S.ASSIGNED, now, f"Assigned to {info.hostname}")
        self._effects.append(LaunchTask(self.tasks[task_id]))

    def reconcile_agent(
        self, agent_id: str, reported: Mapping[str, TaskState], now: int
    ) -> list[Effect]:
        """Apply an agent's full inventory of tasks (sent when it connects)."""
        known = {task.task_id: task for task in self.on_agent(agent_id)}
        known.update((tid, self.tasks[tid]) for tid in reported if tid in self.tasks)
        plan = reconcile(agent_id, reported, known)
        for task_id in plan.relaunch:
            self._effects.append(LaunchTask(self.tasks[task_id]))
        for task_id in plan.lost:
            self.change_state(task_id, S.LOST, now, "Task not found on its agent")
        for task_id in plan.errant:
            self._effects.append(KillTask(task_id, agent_id))
        for task_id, state in plan.adopt:
            self.change_state(task_id, state, now, "Reconciled with the agent")
        return self._drain()
