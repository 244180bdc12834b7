"""Every from-status x to-status of an update, against a table written out here (as Aurora's
JobUpdateStateMachineTest did), and the people's operations on every status."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from daybreak.core.update_status import (
    UpdateStateError,
    aborted,
    check_transition,
    paused,
    pulsed,
    resumed,
    rolled_back,
)
from daybreak.model.update import ACTIVE_UPDATE_STATUSES, UpdateStatus

U = UpdateStatus
FWD, BACK = U.ROLLING_FORWARD, U.ROLLING_BACK
FWD_PAUSED, BACK_PAUSED = U.ROLL_FORWARD_PAUSED, U.ROLL_BACK_PAUSED
FWD_PULSE, BACK_PULSE = U.ROLL_FORWARD_AWAITING_PULSE, U.ROLL_BACK_AWAITING_PULSE

LEGAL = {
    (FWD, BACK), (FWD, FWD_PAUSED), (FWD, FWD_PULSE), (FWD, U.ROLLED_FORWARD), (FWD, U.ABORTED),
    (FWD, U.FAILED), (FWD, U.ERROR),
    (BACK, BACK_PAUSED), (BACK, BACK_PULSE), (BACK, U.ROLLED_BACK), (BACK, U.ABORTED),
    (BACK, U.ERROR), (BACK, U.FAILED),
    (FWD_PAUSED, BACK), (FWD_PAUSED, FWD), (FWD_PAUSED, FWD_PULSE), (FWD_PAUSED, U.ABORTED),
    (FWD_PAUSED, U.ERROR),
    (BACK_PAUSED, BACK), (BACK_PAUSED, BACK_PULSE), (BACK_PAUSED, U.ABORTED),
    (BACK_PAUSED, U.ERROR),
    (FWD_PULSE, BACK), (FWD_PULSE, FWD), (FWD_PULSE, FWD_PAUSED), (FWD_PULSE, U.ABORTED),
    (FWD_PULSE, U.ERROR),
    (BACK_PULSE, BACK), (BACK_PULSE, BACK_PAUSED), (BACK_PULSE, U.ABORTED),
    (BACK_PULSE, U.ERROR),
}  # fmt: skip


@pytest.mark.parametrize(("source", "target"), list(itertools.product(U, U)))
def test_every_pair_of_statuses(source: UpdateStatus, target: UpdateStatus) -> None:
    if (source, target) in LEGAL:
        assert check_transition(source, target) is target
    else:
        with pytest.raises(UpdateStateError, match=f"from {source} to {target}"):
            check_transition(source, target)


# What each operation leads to from each active status; None: refused.
OPERATIONS: dict[str, tuple[Callable[[UpdateStatus], UpdateStatus], dict[UpdateStatus, object]]] = {
    "pause": (paused, {FWD: FWD_PAUSED, BACK: BACK_PAUSED, FWD_PAUSED: None, BACK_PAUSED: None,
                       FWD_PULSE: FWD_PAUSED, BACK_PULSE: BACK_PAUSED}),
    "resume": (lambda s: resumed(s, pulse_expired=False),
               {FWD: None, BACK: None, FWD_PAUSED: FWD, BACK_PAUSED: BACK, FWD_PULSE: None,
                BACK_PULSE: None}),
    "resume, pulses stopped": (lambda s: resumed(s, pulse_expired=True),
                               {FWD: None, BACK: None, FWD_PAUSED: FWD_PULSE,
                                BACK_PAUSED: BACK_PULSE, FWD_PULSE: None, BACK_PULSE: None}),
    "abort": (aborted, dict.fromkeys(ACTIVE_UPDATE_STATUSES, U.ABORTED)),
    "rollback": (rolled_back, {FWD: BACK, FWD_PAUSED: BACK, FWD_PULSE: BACK, BACK: None,
                               BACK_PAUSED: None, BACK_PULSE: None}),
    "pulse": (pulsed, {FWD: FWD, BACK: BACK, FWD_PAUSED: FWD_PAUSED, BACK_PAUSED: BACK_PAUSED,
                       FWD_PULSE: FWD, BACK_PULSE: BACK}),
}  # fmt: skip


@pytest.mark.parametrize(("operation", "status"), list(itertools.product(OPERATIONS, U)), ids=str)
def test_every_operation_on_every_status(operation: str, status: UpdateStatus) -> None:
    apply, expected = OPERATIONS[operation]
    outcome = expected.get(status)
    if outcome is None:
        with pytest.raises(UpdateStateError) as refused:
            apply(status)
        if status not in ACTIVE_UPDATE_STATUSES:
            assert "it is over" in str(refused.value)
    else:
        assert apply(status) is outcome
