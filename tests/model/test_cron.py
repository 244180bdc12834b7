from __future__ import annotations

import pytest

from daybreak.model.cron import CronSyntaxError, parse_cron


def test_fields_lists_ranges_steps_and_names() -> None:
    schedule = parse_cron("*/15 2,14 * JAN-MAR MON-FRI")
    assert schedule.minutes == {0, 15, 30, 45}
    assert schedule.hours == {2, 14}
    assert schedule.months == {1, 2, 3}
    assert schedule.days_of_week == {1, 2, 3, 4, 5}
    assert schedule.day_of_week_restricted and not schedule.day_of_month_restricted
    assert parse_cron("0 0 1-3 * *").days_of_month == {1, 2, 3}


def test_sunday_is_0_and_7_and_steps_from_a_start() -> None:
    schedule = parse_cron("5/20 * * * 7")
    assert schedule.minutes == {5, 25, 45}
    assert schedule.days_of_week == {0}
    assert not schedule.day_of_month_restricted


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "expected 5 fields"),
        ("60 * * * *", "minute: 60 is outside 0-59"),
        ("* 5-2 * * *", "hour: range '5-2' runs backwards"),
        ("* * 0 * *", "day of month: 0 is outside 1-31"),
        ("* * * FOO *", "month: 'FOO' is not a number"),
        ("*/0 * * * *", "minute: step '0' must be a positive number"),
        ("³ * * * *", "minute: '³' is not a number"),
        ("*/² * * * *", "minute: step '²' must be a positive number"),
        ("1,,2 * * * *", "minute: empty list element"),
        # Aurora's rule: "Thursdays that are the 15th" would run on every Thursday and the 15th.
        ("0 0 15 * THU", r"day of month \(15\) and day of week \(THU\) are both restricted"),
    ],
)
def test_errors_name_the_field(expression: str, message: str) -> None:
    with pytest.raises(CronSyntaxError, match=message):
        parse_cron(expression)
