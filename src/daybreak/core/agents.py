"""The agents as the scheduler knows them: whether each can be reached, and its maintenance.

Rules this module owns:

- An agent is CONNECTED from its hello until its connection closes (SILENT). A SILENT agent
  that does not come back within the timeout is LOST: its tasks are given up (launches LOST,
  running tasks PARTITIONED). One that stays connected but mute for the timeout is LOST at
  once, and hung up on so that it must say hello again: one timeout either way, never two.
  A hello brings any agent back, and its inventory is reconciled.
- After a scheduler start every known agent is SILENT, and its timeout counts from the moment
  the scheduler listens, not from when the state was loaded. Silence while the scheduler
  itself stood still (paused, frozen) is not counted either.
- When many agents go silent at once, the cause is more likely on the scheduler's side (a
  takeover, a pause, its network) than on theirs: no agent is given up while more than a set
  share of them, or all of several, is unreachable (Kubernetes' node lifecycle controller
  holds back evictions the same way in a large disruption). Once most are back, timeouts resume,
  counted from the end of the disruption and again from each agent's return after it: a
  scheduler taking thousands of hellos on a loaded machine lets them in over many seconds, and
  while they still come in, those not yet in are on their way. A whole timeout with no return
  ends that.
- Maintenance is Aurora's: DRAIN moves tasks away as their jobs' SLA allows and the agent
  becomes DRAINED once it holds none; ACTIVATE returns it to service; SCHEDULE marks it to be
  used last.
- Both are tables of (state, event) -> (state, actions); a pair missing from a table is a
  rejection that changes nothing (a late disconnect of an agent already lost is expected).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum, StrEnum

import msgspec

from daybreak.errors import InvalidParameterError
from daybreak.model.agent import AgentInfo, DrainRequest, MaintenanceMode
from daybreak.model.records import StoredAgent


class UnknownHostError(InvalidParameterError):
    def __init__(self, host: str, hostnames: list[str]) -> None:
        known = ", ".join(sorted(hostnames)[:10]) or "none"
        super().__init__(f"unknown host {host!r}; known hosts: {known}")


class Link(StrEnum):
    CONNECTED = "CONNECTED"
    SILENT = "SILENT"  # not connected: waiting out the timeout
    LOST = "LOST"  # silent past the timeout: its tasks were given up


class LinkEvent(StrEnum):
    HELLO = "HELLO"
    DISCONNECTED = "DISCONNECTED"
    MUTE = "MUTE"  # connected, but nothing heard for the timeout
    TIMED_OUT = "TIMED_OUT"  # silent for the timeout


class AgentAction(IntEnum):
    """What a change sets in motion; the values are the order they are carried out in."""

    HANG_UP = 1
    RECONCILE = 2
    GIVE_UP_TASKS = 3


A = AgentAction
L = Link
E = LinkEvent

LINK_TABLE: dict[tuple[Link, LinkEvent], tuple[Link, tuple[AgentAction, ...]]] = {
    # A hello on a live connection: the agent restarted before the old one closed.
    (L.CONNECTED, E.HELLO): (L.CONNECTED, (A.RECONCILE,)),
    (L.SILENT, E.HELLO): (L.CONNECTED, (A.RECONCILE,)),
    (L.LOST, E.HELLO): (L.CONNECTED, (A.RECONCILE,)),
    (L.CONNECTED, E.DISCONNECTED): (L.SILENT, ()),
    (L.CONNECTED, E.MUTE): (L.LOST, (A.HANG_UP, A.GIVE_UP_TASKS)),
    (L.SILENT, E.TIMED_OUT): (L.LOST, (A.GIVE_UP_TASKS,)),
}


class MaintenanceEvent(StrEnum):
    ACTIVATE = "ACTIVATE"
    SCHEDULE = "SCHEDULE"
    DRAIN = "DRAIN"
    EMPTIED = "EMPTIED"  # a draining agent holds no task any more


M = MaintenanceMode
ME = MaintenanceEvent

MAINTENANCE_TABLE: dict[
    tuple[MaintenanceMode, MaintenanceEvent], tuple[MaintenanceMode, tuple[AgentAction, ...]]
] = {
    **{(mode, ME.ACTIVATE): (M.NONE, ()) for mode in M},
    **{(mode, ME.SCHEDULE): (M.SCHEDULED, ()) for mode in M},
    # The tasks leave as their jobs' SLA allows (`daybreak.core.drains`).
    (M.NONE, ME.DRAIN): (M.DRAINING, ()),
    (M.SCHEDULED, ME.DRAIN): (M.DRAINING, ()),
    (M.DRAINING, ME.DRAIN): (M.DRAINING, ()),
    (M.DRAINED, ME.DRAIN): (M.DRAINED, ()),
    (M.DRAINING, ME.EMPTIED): (M.DRAINED, ()),
}

# What an operator may ask for, as the event that asks for it.
REQUESTED = {M.NONE: ME.ACTIVATE, M.SCHEDULED: ME.SCHEDULE, M.DRAINING: ME.DRAIN}


@dataclass
class AgentRecord:
    stored: StoredAgent
    link: Link
    # The shell's number of the agent's current connection (a late close of an older one is
    # not this agent going silent).
    connection: int | None
    # CONNECTED: when it was last heard; SILENT: since when it has been; LOST: when it was lost.
    since_ms: int

    @property
    def info(self) -> AgentInfo:
        return self.stored.info

    @property
    def maintenance(self) -> MaintenanceMode:
        return self.stored.maintenance


@dataclass(frozen=True, slots=True)
class Changed:
    """One applied change: the agent's record after it, and what it sets in motion."""

    record: AgentRecord
    actions: tuple[AgentAction, ...]


class Agents:
    """Every agent the scheduler has heard of, by id.

    A round asks how many agents can be reached and which timed out; with thousands of agents
    and many rounds a second, walking them all each time would be most of a round. So links
    and draining agents are counted as they change, and the walk for timeouts waits until the
    quietest agent could have timed out: silence only grows by waiting (every event sets
    `since_ms` to now or later), so until then none has."""

    def __init__(self) -> None:
        self.records: dict[str, AgentRecord] = {}
        self._links: Counter[Link] = Counter()
        self._draining: set[str] = set()
        # Before `_walk_at` no agent can have been silent for `_walked_for` ms.
        self._walk_at: int | None = None
        self._walked_for = 0
        # No agent's silence counts from before this (a start, a disruption's end, a return
        # after it): one number, not a walk over thousands of records at each return.
        self._timeouts_from = 0
        # After a disruption, until a whole timeout passes with no agent coming back.
        self._recovering = False

    def __iter__(self) -> Iterator[AgentRecord]:
        return iter(self.records.values())

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self.records

    def get(self, agent_id: str) -> AgentRecord | None:
        return self.records.get(agent_id)

    def restore(self, stored: dict[str, StoredAgent], now: int) -> None:
        """After a scheduler start: every agent silent until it says hello."""
        self.records = {
            agent_id: AgentRecord(agent, L.SILENT, None, now) for agent_id, agent in stored.items()
        }
        self._links = Counter({L.SILENT: len(self.records)})
        self._draining = {
            agent_id
            for agent_id, agent in stored.items()
            if agent.maintenance is MaintenanceMode.DRAINING
        }
        self._walk_at = None
        self._timeouts_from, self._recovering = now, False

    def silent_since(self, record: AgentRecord) -> int:
        """Whence `record`'s silence counts: its own time, or a later restart of every
        timeout."""
        return max(record.since_ms, self._timeouts_from)

    def restart_timeouts(self, now: int) -> None:
        """Every agent not given up has a whole timeout from `now` (the scheduler can be
        reached from now on)."""
        self._timeouts_from = now

    def recover(self, now: int) -> None:
        """A disruption is over: every agent not given up has a whole timeout from `now`, and
        again from each return, until a whole timeout passes with none."""
        self.restart_timeouts(now)
        self._recovering = self._links[L.SILENT] > 0

    def discount_silence(self, stalled_ms: int, now: int) -> None:
        """The scheduler heard nothing for `stalled_ms` (it stood still): that long of each
        agent's silence is not counted."""
        for record in self.records.values():
            if record.link is not L.LOST:
                record.since_ms = min(now, record.since_ms + stalled_ms)
        self._timeouts_from = min(now, self._timeouts_from + stalled_ms)

    def hello(
        self, info: AgentInfo, connection: int, now: int, secret_hash: str | None = None
    ) -> Changed:
        record = self.records.get(info.agent_id)
        if record is None:
            record = AgentRecord(StoredAgent(info=info), L.SILENT, None, now)
            self.records[info.agent_id] = record
            self._links[L.SILENT] += 1
        record.stored = msgspec.structs.replace(record.stored, info=info, secret_hash=secret_hash)
        if self._recovering and record.link is not L.CONNECTED:
            self.restart_timeouts(now)  # the fleet is still coming back
        changed = self._move(record, E.HELLO, now)
        assert changed is not None  # every link state takes a hello
        record.connection = connection
        if not self._links[L.SILENT]:
            self._recovering = False
        return changed

    def disconnected(self, agent_id: str, connection: int, now: int) -> Changed | None:
        record = self.records.get(agent_id)
        if record is None or record.connection != connection:
            return None  # an older connection closing after a newer one said hello
        record.connection = None
        return self._move(record, E.DISCONNECTED, now)

    def heard_from(self, agent_id: str, now: int) -> None:
        record = self.records.get(agent_id)
        if record is not None and record.link is L.CONNECTED:
            record.since_ms = now

    def timeouts(self, now: int, timeout_ms: int) -> list[Changed]:
        """Agents mute or silent past the timeout, in id order."""
        if not self._may_have_timed_out(now, timeout_ms):
            return []
        past = self._past(now, timeout_ms)
        if past:
            self._recovering = False  # a whole timeout passed with no return
        changes = []
        for agent_id in sorted(past):
            record = self.records[agent_id]
            event = E.MUTE if record.link is L.CONNECTED else E.TIMED_OUT
            changed = self._move(record, event, now)
            if changed is not None:
                if event is E.MUTE:
                    record.connection = None
                changes.append(changed)
        return changes

    def population(self) -> int:
        """How many agents are not given up."""
        return len(self.records) - self._links[L.LOST]

    def unreachable(self, now: int, timeout_ms: int) -> tuple[int, int]:
        """How many agents cannot be reached (silent, or connected but mute past the
        timeout), of how many not yet given up."""
        silent = self._links[L.SILENT]
        if self._may_have_timed_out(now, timeout_ms):
            silent += sum(self.records[a].link is L.CONNECTED for a in self._past(now, timeout_ms))
        return silent, self.population()

    def draining(self) -> list[str]:
        """The agents being drained, in id order."""
        return sorted(self._draining)

    def _may_have_timed_out(self, now: int, timeout_ms: int) -> bool:
        return self._walk_at is None or timeout_ms < self._walked_for or now >= self._walk_at

    def _past(self, now: int, timeout_ms: int) -> list[str]:
        """The agents not given up that have been silent for `timeout_ms`; notes when the
        next could be."""
        past, quietest = [], now
        for agent_id, record in self.records.items():
            if record.link is L.LOST:
                continue
            since = self.silent_since(record)
            if now - since >= timeout_ms:
                past.append(agent_id)  # and walked for again until it is given up
            quietest = min(quietest, since)
        self._walk_at, self._walked_for = quietest + timeout_ms, timeout_ms
        return past

    def _move(self, record: AgentRecord, event: LinkEvent, now: int) -> Changed | None:
        found = LINK_TABLE.get((record.link, event))
        if found is None:
            return None
        self._links[record.link] -= 1
        record.link, actions = found
        self._links[record.link] += 1
        record.since_ms = now
        return Changed(record, actions)

    def maintain(
        self, agent_id: str, event: MaintenanceEvent, drain: DrainRequest | None = None
    ) -> Changed | None:
        """Apply `event`; a drain keeps its request (`drain`, when the event starts one)."""
        record = self.records[agent_id]
        found = MAINTENANCE_TABLE.get((record.maintenance, event))
        if found is None:
            return None
        mode, actions = found
        if mode is not MaintenanceMode.DRAINING:
            drain = None
        elif drain is None:
            drain = record.stored.drain
        record.stored = msgspec.structs.replace(record.stored, maintenance=mode, drain=drain)
        if mode is MaintenanceMode.DRAINING:
            self._draining.add(agent_id)
        else:
            self._draining.discard(agent_id)
        return Changed(record, actions)

    def applied(self, agent_id: str, seq: int) -> StoredAgent:
        """Note that the agent's status update `seq` is applied; the record to store."""
        record = self.records[agent_id]
        record.stored = msgspec.structs.replace(record.stored, applied_seq=seq)
        return record.stored

    def by_name(self, hosts: list[str]) -> list[str]:
        """The agent ids of `hosts`, each an id or a hostname."""
        return agent_ids(self.records.keys(),
                         {r.info.hostname: a for a, r in self.records.items()}, hosts)  # fmt: skip


def agent_ids(known: Iterable[str], hostnames: dict[str, str], hosts: Iterable[str]) -> list[str]:
    """The agent ids of `hosts`, each an agent id of `known` or a hostname of `hostnames`
    (hostname -> agent id)."""
    ids = set(known)
    found = []
    for host in hosts:
        agent_id = host if host in ids else hostnames.get(host)
        if agent_id is None:
            raise UnknownHostError(host, list(hostnames))
        found.append(agent_id)
    return found
