"""The HTTP status of each error the scheduler raises: one table for the API and the pages."""

from __future__ import annotations

from daybreak.core.cron import NotCronError
from daybreak.core.jobs import JobExistsError, JobNotFoundError
from daybreak.core.quota import QuotaExceededError
from daybreak.core.update_status import UpdateStateError
from daybreak.core.updates import JobUpdatingError, NoActiveUpdateError, UnknownUpdateError
from daybreak.errors import DaybreakError, InvalidParameterError
from daybreak.scheduler.agent_requests import (
    AgentUnavailableError,
    TaskRequestFailedError,
    UnexpectedReplyError,
)
from daybreak.scheduler.service import SchedulerStoppingError, TaskNotFoundError
from daybreak.scheduler.views import RoleNotFoundError, UnknownAgentError

STATUS_OF: tuple[tuple[type[DaybreakError], int], ...] = (
    (JobNotFoundError, 404),
    (NotCronError, 404),
    (TaskNotFoundError, 404),
    (RoleNotFoundError, 404),
    (UnknownAgentError, 404),
    (TaskRequestFailedError, 404),
    (AgentUnavailableError, 503),
    (UnexpectedReplyError, 502),
    (SchedulerStoppingError, 503),
    (JobExistsError, 409),
    (JobUpdatingError, 409),
    (UpdateStateError, 409),
    (NoActiveUpdateError, 404),
    (UnknownUpdateError, 404),
    (QuotaExceededError, 403),
    (InvalidParameterError, 400),
)


def status_of(error: DaybreakError) -> int:
    return next((code for kind, code in STATUS_OF if isinstance(error, kind)), 400)
