from __future__ import annotations

import pytest

from daybreak.errors import InvalidParameterError
from daybreak.model.jobkey import parse_instance_key, parse_instances, parse_job_key
from daybreak.model.jobspec import JobKey


def test_job_key() -> None:
    key = parse_job_key("west/www-data/prod/hello.world_2")
    assert key == JobKey(cluster="west", role="www-data", environment="prod", name="hello.world_2")
    assert str(key) == "west/www-data/prod/hello.world_2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("west/www/prod", "must have 4 parts"),
        ("west/www/prod/a/b/c", "must have 4 parts"),
        ("west/w w/prod/app", "role 'w w' may use only"),
        ("west//prod/app", "role '' may use only"),
    ],
)
def test_bad_job_keys(text: str, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        parse_job_key(text)


def test_instances_as_in_aurora() -> None:
    assert parse_instances("0-2,5,7-9") == (0, 1, 2, 5, 7, 8, 9)
    assert parse_instances("3") == (3,)
    assert parse_instances("1,1,0-1") == (0, 1)
    key, instances = parse_instance_key("west/www/prod/app/0-1")
    assert (str(key), instances) == ("west/www/prod/app", (0, 1))
    assert parse_instance_key("west/www/prod/app")[1] is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3-1", "runs backwards"),
        ("a", "not a number"),
        ("1-", "not a number"),
        ("", "not a number"),
        ("³", "not a number"),  # a digit to str.isdigit, not to int (found by the API fuzzer)
        ("1-²", "not a number"),
    ],
)
def test_bad_instances(text: str, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        parse_instances(text)
