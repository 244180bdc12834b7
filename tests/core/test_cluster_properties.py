"""Random sequences of creates, kills, restarts, agent losses, maintenance, status reports and
time jumps, with the invariants that must hold after every step. Two clusters are driven in
lockstep: the same inputs must give the same effects."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from daybreak.core.cluster import Cluster
from daybreak.core.effects import Effect, KillTask
from daybreak.core.fleet import demand
from daybreak.core.scheduling import schedule
from daybreak.core.settings import Settings
from daybreak.model.agent import AgentInfo, MaintenanceMode
from daybreak.model.jobspec import JobSpec, LimitConstraint, PartitionPolicy, ValueConstraint
from daybreak.model.task_state import (
    ACTIVE_STATES,
    AGENT_ASSIGNED_STATES,
    TERMINAL_STATES,
    TaskState,
)
from tests.core.builders import agent, job_spec, set_maintenance

S = TaskState
SECOND = 1000
CONSTRAINTS = [
    {},
    {"host": "limit:1"},
    {"rack": "limit:1"},
    {"rack": "r1"},
    {"rack": "!r0"},
    {"dedicated": "www/db"},
]
REPORTS = [S.STARTING, S.RUNNING, S.FINISHED, S.FAILED, S.KILLED, S.LOST]


@st.composite
def job_specs(draw: st.DrawFn, number: int) -> JobSpec:
    policy = draw(st.sampled_from([None, PartitionPolicy(reschedule=False),
                                   PartitionPolicy(delay_secs=60)]))  # fmt: skip
    return job_spec(
        f"job{number}",
        role=draw(st.sampled_from(["www", "batch"])),
        instances=draw(st.integers(1, 4)),
        cpu=draw(st.sampled_from([0.5, 1.0, 2.0, 3.0])),
        ram_mb=draw(st.sampled_from([256, 1024, 4096])),
        ports=draw(st.sampled_from([(), ("http",), ("http", "admin")])),
        service=draw(st.booleans()),
        tier=draw(st.sampled_from([None, "preferred", "preemptible"])),
        priority=draw(st.integers(0, 2)),
        max_task_failures=draw(st.sampled_from([1, 2, -1])),
        constraints=draw(st.sampled_from(CONSTRAINTS)),
        partition_policy=policy,
    )


class ClusterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0
        self.jobs = 0
        self.ended: dict[str, TaskState] = {}
        self.clusters: tuple[Cluster, Cluster] = (Cluster(), Cluster())
        self.agents: list[AgentInfo] = []

    @initialize(
        sizes=st.lists(st.sampled_from([2.0, 4.0, 8.0]), min_size=1, max_size=5),
        dedicated=st.booleans(),
        delay=st.sampled_from([0, 60 * SECOND]),
    )
    def start(self, sizes: list[float], dedicated: bool, delay: int) -> None:
        config = replace(Settings(), preemption_delay_ms=delay)
        self.clusters = (Cluster(config), Cluster(config))
        for number, cpu in enumerate(sizes):
            extra = {"dedicated": "www/db"} if dedicated and number == 0 else {}
            info = agent(f"a{number}", cpu=cpu, ram_mb=8192, ports=(31000, 31003),
                         rack=f"r{number % 2}", more=extra)  # fmt: skip
            self.agents.append(info)
            self.apply(lambda c, info=info: c.register_agent(info, self.now))

    @property
    def cluster(self) -> Cluster:
        return self.clusters[0]

    def apply(self, operation: object) -> list[Effect]:
        first, second = (operation(cluster) for cluster in self.clusters)  # type: ignore[operator]
        assert first == second, "the same inputs gave different effects"
        return first  # type: ignore[no-any-return]

    # -- rules ---------------------------------------------------------------------------------

    @rule(data=st.data())
    def create(self, data: st.DataObject) -> None:
        self.jobs += 1
        spec = data.draw(job_specs(self.jobs))
        self.apply(lambda c: c.add_instances(spec, range(spec.instances), self.now))

    @rule()
    def run_schedule(self) -> None:
        before = dict(self.cluster.reservations)
        effects = self.apply(lambda c: schedule(c, self.now))
        if effects:
            event("a schedule round placed or preempted")
        self.check_new_reservations(before)

    @precondition(lambda self: any(self.cluster.holdings))
    @rule(data=st.data(), state=st.sampled_from(REPORTS))
    def report(self, data: st.DataObject, state: TaskState) -> None:
        task_id = data.draw(st.sampled_from(sorted(self.cluster.holdings)))
        agent_id = self.cluster.tasks[task_id].agent_id
        assert agent_id is not None
        self.apply(lambda c: c.status_update(agent_id, task_id, state, self.now))

    @precondition(lambda self: any(self.cluster.tasks))
    @rule(data=st.data(), restart=st.booleans())
    def kill(self, data: st.DataObject, restart: bool) -> None:
        task_id = data.draw(st.sampled_from(sorted(self.cluster.tasks)))
        if restart:
            self.apply(lambda c: c.restart_tasks([task_id], self.now, "restart"))
        else:
            self.apply(lambda c: c.kill_tasks([task_id], self.now, "kill"))

    @rule(data=st.data())
    def errant_report(self, data: st.DataObject) -> None:
        info = data.draw(st.sampled_from(self.agents))
        effects = self.apply(lambda c: c.status_update(info.agent_id, "ghost", S.RUNNING, self.now))
        assert effects == [KillTask("ghost", info.agent_id)]

    @rule(data=st.data(), back=st.booleans())
    def lose_agent(self, data: st.DataObject, back: bool) -> None:
        info = data.draw(st.sampled_from(self.agents))
        self.apply(lambda c: c.agent_lost(info.agent_id, self.now))
        if back:
            reported = {
                t.task_id: t.state for t in self.cluster.tasks.values()
                if t.agent_id == info.agent_id and t.state is S.PARTITIONED
            }  # fmt: skip
            self.apply(lambda c: c.register_agent(info, self.now))
            running = dict.fromkeys(reported, S.RUNNING)
            self.apply(lambda c: c.reconcile_agent(info.agent_id, running, self.now))

    @rule(data=st.data(), mode=st.sampled_from(list(MaintenanceMode)))
    def maintenance(self, data: st.DataObject, mode: MaintenanceMode) -> None:
        info = data.draw(st.sampled_from(self.agents))
        self.apply(lambda c: set_maintenance(c, info.agent_id, mode, self.now))

    @rule(seconds=st.sampled_from([1, 30, 61, 301, 4000, 200_000]))
    def time_passes(self, seconds: int) -> None:
        self.now += seconds * SECOND
        self.apply(lambda c: c.tick(self.now))

    # -- invariants ----------------------------------------------------------------------------

    def check_new_reservations(self, before: Mapping[int, object]) -> None:
        """A preemption frees enough for the task it was made for."""
        cluster = self.cluster
        for row, reservation in cluster.reservations.items():
            if before.get(row) == reservation:
                continue
            event("a preemption was decided")
            task = cluster.tasks[reservation.task_id]
            freed = sum(
                (held.amount for held in cluster.holdings.values()
                 if held.row == row and cluster.tasks[held.task_id].state is S.PREEMPTING),
                start=cluster.fleet.free()[row] * 0,
            )  # fmt: skip
            request = demand(task.spec.task.resources, len(task.spec.ports))
            assert (cluster.fleet.free()[row] + freed >= request).all()

    @invariant()
    def no_agent_is_overcommitted(self) -> None:
        fleet = self.cluster.fleet
        assert (fleet.used <= fleet.capacity + 1e-9).all()
        recomputed = fleet.used * 0
        for held in self.cluster.holdings.values():
            recomputed[held.row] += held.amount
        assert abs(recomputed - fleet.used).max(initial=0) < 1e-9
        by_row = {row: set(ids) for row, ids in self.cluster.by_row.items() if ids}
        assert by_row == {
            row: {h.task_id for h in self.cluster.holdings.values() if h.row == row}
            for row in {h.row for h in self.cluster.holdings.values()}
        }
        for row, ports in enumerate(fleet.used_ports):
            held_ports = [
                p for h in self.cluster.holdings.values() if h.row == row for p in h.ports
            ]
            assert sorted(held_ports) == sorted(ports)

    @invariant()
    def at_most_one_active_task_per_instance(self) -> None:
        active = Counter(
            (task.job, task.instance)
            for task in self.cluster.tasks.values()
            if task.state in ACTIVE_STATES and task.state is not S.PARTITIONED
        )
        assert all(count == 1 for count in active.values()), active.most_common(2)

    @invariant()
    def terminal_states_never_change(self) -> None:
        for task_id, state in self.ended.items():
            task = self.cluster.tasks.get(task_id)
            assert task is None or task.state == state
        for task in self.cluster.in_state(*TERMINAL_STATES):
            self.ended[task.task_id] = task.state

    @invariant()
    def constraints_hold_on_agents(self) -> None:
        cluster = self.cluster
        for_limit: Counter[tuple[object, str, str]] = Counter()
        for held in cluster.holdings.values():
            task = cluster.tasks[held.task_id]
            assert task.state in AGENT_ASSIGNED_STATES
            attributes = cluster.fleet.infos[held.row].attributes
            asks_dedicated = False
            for constraint in task.spec.constraints:
                value = attributes.get(constraint.attribute)
                if isinstance(constraint, LimitConstraint):
                    assert value is not None
                    for_limit[(task.job, constraint.attribute, value)] += 1
                    assert for_limit[(task.job, constraint.attribute, value)] <= constraint.limit
                elif isinstance(constraint, ValueConstraint):
                    asks_dedicated |= constraint.attribute == "dedicated"
                    assert (value in constraint.values) != constraint.negated
            assert asks_dedicated or "dedicated" not in attributes


TestCluster = ClusterMachine.TestCase
TestCluster.settings = settings(
    max_examples=200, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
