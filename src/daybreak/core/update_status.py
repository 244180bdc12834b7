"""The status of a job update, and the only ways it may change (Aurora's JobUpdateStateMachine).

Rules this file owns:
- an update is active while rolling, paused or awaiting a pulse; the other statuses are final;
- a move not in `TRANSITIONS` raises `UpdateStateError` and changes nothing;
- the people's operations (pause, resume, abort, rollback, pulse) say what status they lead to,
  or why they cannot apply, in words a user can act on.
"""

from __future__ import annotations

from daybreak.errors import DaybreakError
from daybreak.model.update import ACTIVE_UPDATE_STATUSES, UpdateStatus

U = UpdateStatus

ROLLING_STATUSES = frozenset({U.ROLLING_FORWARD, U.ROLLING_BACK})
PAUSED_STATUSES = frozenset({U.ROLL_FORWARD_PAUSED, U.ROLL_BACK_PAUSED})
AWAITING_PULSE_STATUSES = frozenset({U.ROLL_FORWARD_AWAITING_PULSE, U.ROLL_BACK_AWAITING_PULSE})
FORWARD_STATUSES = frozenset({U.ROLLING_FORWARD, U.ROLL_FORWARD_PAUSED,
                              U.ROLL_FORWARD_AWAITING_PULSE})  # fmt: skip

TRANSITIONS: dict[UpdateStatus, frozenset[UpdateStatus]] = {
    U.ROLLING_FORWARD: frozenset({
        U.ROLLING_BACK, U.ROLL_FORWARD_PAUSED, U.ROLL_FORWARD_AWAITING_PULSE, U.ROLLED_FORWARD,
        U.ABORTED, U.FAILED, U.ERROR,
    }),
    U.ROLLING_BACK: frozenset({
        U.ROLL_BACK_PAUSED, U.ROLL_BACK_AWAITING_PULSE, U.ROLLED_BACK, U.ABORTED, U.ERROR, U.FAILED,
    }),
    U.ROLL_FORWARD_PAUSED: frozenset({
        U.ROLLING_BACK, U.ROLLING_FORWARD, U.ROLL_FORWARD_AWAITING_PULSE, U.ABORTED, U.ERROR,
    }),
    U.ROLL_BACK_PAUSED: frozenset({
        U.ROLLING_BACK, U.ROLL_BACK_AWAITING_PULSE, U.ABORTED, U.ERROR,
    }),
    U.ROLL_FORWARD_AWAITING_PULSE: frozenset({
        U.ROLLING_BACK, U.ROLLING_FORWARD, U.ROLL_FORWARD_PAUSED, U.ABORTED, U.ERROR,
    }),
    U.ROLL_BACK_AWAITING_PULSE: frozenset({
        U.ROLLING_BACK, U.ROLL_BACK_PAUSED, U.ABORTED, U.ERROR,
    }),
    U.ROLLED_FORWARD: frozenset(),
    U.ROLLED_BACK: frozenset(),
    U.ABORTED: frozenset(),
    U.ERROR: frozenset(),
    U.FAILED: frozenset(),
}  # fmt: skip


class UpdateStateError(DaybreakError):
    """An operation that does not apply to the update's status; nothing was changed."""


def check_transition(source: UpdateStatus, target: UpdateStatus) -> UpdateStatus:
    if target not in TRANSITIONS[source]:
        raise UpdateStateError(f"an update cannot go from {source} to {target}")
    return target


def _require_active(status: UpdateStatus, operation: str) -> None:
    if status not in ACTIVE_UPDATE_STATUSES:
        raise UpdateStateError(
            f"cannot {operation} an update that is {status}: it is over "
            "(`daybreak update list` shows the active ones)"
        )


def paused(status: UpdateStatus) -> UpdateStatus:
    """`update pause`: a rolling or pulse-awaiting update stops where it is."""
    _require_active(status, "pause")
    if status in PAUSED_STATUSES:
        raise UpdateStateError(f"the update is already {status}: `daybreak update resume` it")
    target = U.ROLL_FORWARD_PAUSED if status in FORWARD_STATUSES else U.ROLL_BACK_PAUSED
    return check_transition(status, target)


def resumed(status: UpdateStatus, pulse_expired: bool) -> UpdateStatus:
    """`update resume`: a paused update rolls on, or awaits a pulse if its pulses stopped."""
    _require_active(status, "resume")
    if status not in PAUSED_STATUSES:
        raise UpdateStateError(f"the update is {status}, not paused: nothing to resume")
    forward = status is U.ROLL_FORWARD_PAUSED
    if pulse_expired:
        target = U.ROLL_FORWARD_AWAITING_PULSE if forward else U.ROLL_BACK_AWAITING_PULSE
    else:
        target = U.ROLLING_FORWARD if forward else U.ROLLING_BACK
    return check_transition(status, target)


def aborted(status: UpdateStatus) -> UpdateStatus:
    """`update abort`: the update stops for good, leaving instances as they are."""
    _require_active(status, "abort")
    return check_transition(status, U.ABORTED)


def rolled_back(status: UpdateStatus) -> UpdateStatus:
    """`update rollback`: every instance goes back to its config from before the update."""
    _require_active(status, "roll back")
    if status not in FORWARD_STATUSES:
        raise UpdateStateError(f"the update is already rolling back ({status})")
    return check_transition(status, U.ROLLING_BACK)


def pulsed(status: UpdateStatus) -> UpdateStatus:
    """`update pulse`: an update awaiting a pulse rolls on; a rolling one simply stays so."""
    _require_active(status, "pulse")
    if status is U.ROLL_FORWARD_AWAITING_PULSE:
        return check_transition(status, U.ROLLING_FORWARD)
    if status is U.ROLL_BACK_AWAITING_PULSE:
        return check_transition(status, U.ROLLING_BACK)
    return status
