"""Plain data shared by every room: job specs now, tasks and agents as they arrive."""

from daybreak.model.jobspec import JobKey, JobSpec, TaskInstance

__all__ = ["JobKey", "JobSpec", "TaskInstance"]
