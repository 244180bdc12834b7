"""This process's part: the scheduler it runs while it leads, or, while it stands by, where the
leader is. Every handler asks for the leading scheduler; a standby answers with a redirect to
the leader (307, same path and query), or 503 while nobody leads."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.status_codes import HTTP_307_TEMPORARY_REDIRECT

from daybreak.errors import DaybreakError
from daybreak.model.api import Problem
from daybreak.scheduler.leadership import Leadership, Observed
from daybreak.scheduler.service import Scheduler


class NotLeaderError(DaybreakError):
    """Asked of a standby."""

    def __init__(self, leader: str) -> None:
        self.leader = leader
        where = f"the leader is {leader}" if leader else "no scheduler leads yet; ask again soon"
        super().__init__(f"this scheduler is a standby: {where}")


class Role:
    def __init__(self, address: str, leadership: Leadership | None = None) -> None:
        self.address = address  # how others reach this scheduler
        self.leadership = leadership
        self.scheduler: Scheduler | None = None
        self.terms = 0  # times this process took the lead

    @property
    def observed(self) -> Observed:
        """The leader as this process last saw it."""
        return Observed() if self.leadership is None else self.leadership.observed

    @property
    def leads(self) -> bool:
        return self.scheduler is not None

    def leading(self) -> Scheduler:
        """The scheduler, if this process leads."""
        if self.scheduler is None:
            raise NotLeaderError(self.leader_address())
        return self.scheduler

    def leader_address(self) -> str:
        """Where the leader is, if another scheduler leads."""
        leader = self.observed.address
        return "" if leader == self.address else leader

    def describe(self) -> str:
        if self.scheduler is not None:
            return f"OK leader epoch={self.scheduler.epoch}"
        return f"OK standby leader={self.leader_address() or 'none'}"


def redirect_to_leader(request: Request[Any, Any, Any], error: NotLeaderError) -> Response[Any]:
    if not error.leader:
        return Response(Problem(error=error.message, status=503), status_code=503)
    target = error.leader.rstrip("/") + request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return Response(
        Problem(error=error.message, status=HTTP_307_TEMPORARY_REDIRECT),
        status_code=HTTP_307_TEMPORARY_REDIRECT,
        headers={"Location": target},
    )
