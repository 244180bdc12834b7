"""How often agents heartbeat, and how long one may stay silent, as the fleet grows.

Liveness must cost the scheduler a bounded amount however many agents there are (Nomad's
`max_heartbeats_per_second`): the interval agents are told is the configured one, or longer so
that the whole fleet stays under a budget of heartbeats a second; the timeout follows, at least
`TIMEOUTS_PER_INTERVAL` intervals. Agents hear their pace in their welcome and, when the fleet
grows past the budget or shrinks well under it, in a welcome sent again to every connected
agent. So that pacing does not flap, the new interval leaves headroom, and a shrinking fleet is
re-paced only when it beats at under a quarter of the budget.

An agent may still keep an older, slower pace for a moment after a change (a heartbeat already
waiting its turn): for one old timeout after a change, silence is judged by the longer of the
two timeouts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TIMEOUTS_PER_INTERVAL = 3
HEADROOM = 1.25  # a new interval leaves a quarter of the budget free for growth
SLACK = 4  # a fleet beating at under budget / SLACK is re-paced faster


@dataclass(frozen=True, slots=True)
class Pace:
    heartbeat_interval_ms: int
    agent_timeout_ms: int


def pace_for(agents: int, interval_ms: int, timeout_ms: int, budget_per_s: float) -> Pace:
    """The pace for `agents`, given the configured interval and timeout (the fastest and the
    shortest) and the budget of heartbeats a second."""
    needed = math.ceil(agents * 1000 / budget_per_s * HEADROOM) if agents else 0
    interval = max(interval_ms, needed)
    return Pace(interval, max(timeout_ms, TIMEOUTS_PER_INTERVAL * interval))


class Pacer:
    """The pace agents were told, and when it must change."""

    def __init__(self, interval_ms: int, timeout_ms: int, budget_per_s: float) -> None:
        self.fastest_ms, self.shortest_ms, self.budget = interval_ms, timeout_ms, budget_per_s
        self.told = Pace(interval_ms, timeout_ms)
        self._older_timeout_ms = 0  # the timeout before the last change...
        self._older_until = 0  # ...which still counts until then

    def settle(self, agents: int) -> None:
        """Take the pace for `agents` at once, telling nobody (at a start: agents hear it in
        their welcome)."""
        self.told = pace_for(agents, self.fastest_ms, self.shortest_ms, self.budget)

    def repace(self, agents: int, now: int) -> Pace | None:
        """The new pace for every connected agent, if `agents` beat too often or far too
        rarely at the pace they were told; None if it stands."""
        rate = agents * 1000 / self.told.heartbeat_interval_ms
        wanted = pace_for(agents, self.fastest_ms, self.shortest_ms, self.budget)
        faster = wanted.heartbeat_interval_ms < self.told.heartbeat_interval_ms
        if rate <= self.budget and not (faster and rate < self.budget / SLACK):
            return None
        if wanted == self.told:
            return None
        self._older_timeout_ms, self._older_until = (
            self.told.agent_timeout_ms,
            now + self.told.agent_timeout_ms,
        )
        self.told = wanted
        return wanted

    def timeout_ms(self, now: int) -> int:
        """How long an agent may be silent now."""
        older = self._older_timeout_ms if now < self._older_until else 0
        return max(self.told.agent_timeout_ms, older)
