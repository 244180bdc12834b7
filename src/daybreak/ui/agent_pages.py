"""The agents page and an agent's own: what each offers, holds and uses, and its tasks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from daybreak.core.quota import Aggregate
from daybreak.model.api import DrainWait, TaskSummary
from daybreak.scheduler import views
from daybreak.scheduler.read_model import ReadModel
from daybreak.scheduler.usage_samples import AgentUsage
from daybreak.ui.pages import Paging, offered_by


@dataclass(frozen=True)
class AgentRow:
    agent_id: str
    hostname: str
    attributes: dict[str, str]
    online: bool
    maintenance: str
    offered: Aggregate
    allocated: Aggregate
    tasks: int
    drain_waits: tuple[DrainWait, ...] = ()
    version: str = ""
    # What its tasks used at its last heartbeat, and when that was; None: not heard since this
    # scheduler took over.
    measured: AgentUsage | None = None


def agent_rows(
    view: ReadModel,
    agent_ids: list[str] | None = None,
    measured: Callable[[str], AgentUsage | None] = lambda _agent_id: None,
) -> list[AgentRow]:
    rows = []
    for agent in views.agent_summaries(view, agent_ids):
        rows.append(
            AgentRow(
                agent_id=agent.agent_id,
                hostname=agent.hostname,
                attributes=agent.attributes,
                online=agent.online,
                maintenance=agent.maintenance,
                offered=offered_by(agent.resources),
                allocated=view.held(agent.agent_id),
                tasks=agent.tasks,
                drain_waits=agent.drain_waits,
                version=agent.version,
                measured=measured(agent.agent_id),
            )
        )
    return rows


@dataclass(frozen=True)
class AgentPage:
    agent: AgentRow
    address: str
    ports: str
    tasks: list[TaskSummary]  # those occupying it, by job and instance
    paging: Paging


def agent_page(
    view: ReadModel,
    agent_id: str,
    page: int,
    measured: Callable[[str], AgentUsage | None] = lambda _agent_id: None,
) -> AgentPage:
    row = next((r for r in agent_rows(view, [agent_id], measured)), None)
    stored = view.agents.get(agent_id)
    if row is None or stored is None:
        raise views.UnknownAgentError(agent_id)
    tasks = sorted(view.agent_tasks(agent_id), key=lambda t: (str(t.job), t.instance))
    paging = Paging.of(len(tasks), page)
    info = stored.info
    return AgentPage(
        agent=row,
        address=info.address or info.hostname,
        ports=f"{info.ports.first}-{info.ports.last}",
        tasks=[view.summarize(task) for task in paging.slice(tasks)],
        paging=paging,
    )
