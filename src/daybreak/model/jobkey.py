"""Job keys as people type them: `cluster/role/env/name`, optionally `/0-3,7` instances."""

from __future__ import annotations

import re
from collections.abc import Sequence

from daybreak.errors import InvalidParameterError
from daybreak.model.jobspec import JobKey
from daybreak.model.units import is_number

KEY_PART = re.compile(r"^[\w\-.]+$")
KEY_FIELDS = ("cluster", "role", "environment", "name")


def parse_job_key(text: str) -> JobKey:
    parts = text.split("/")
    if len(parts) != 4:
        raise InvalidParameterError(
            f"job key {text!r} must have 4 parts: CLUSTER/ROLE/ENV/NAME, "
            "e.g. devcluster/www/prod/hello"
        )
    for field, part in zip(KEY_FIELDS, parts, strict=True):
        if not KEY_PART.match(part):
            raise InvalidParameterError(
                f"job key {text!r}: {field} {part!r} may use only letters, digits, '_', '-' and '.'"
            )
    return JobKey(cluster=parts[0], role=parts[1], environment=parts[2], name=parts[3])


# The most instance numbers a list like `0-3,7` may expand to (a query takes ranges as
# ranges, and has no such limit).
MAX_LISTED_INSTANCES = 100_000


class InstanceRanges:
    """`0-3,7` as inclusive ranges, however wide: membership without listing every number."""

    def __init__(self, ranges: tuple[tuple[int, int], ...]) -> None:
        self.ranges = ranges

    def __contains__(self, instance: object) -> bool:
        return isinstance(instance, int) and any(a <= instance <= b for a, b in self.ranges)

    def count(self) -> int:
        """How many numbers, counting overlaps once."""
        total, reached = 0, -1
        for first, last in sorted(self.ranges):
            start = max(first, reached + 1)
            if last >= start:
                total += last - start + 1
                reached = last
        return total


def parse_instance_ranges(text: str) -> InstanceRanges:
    """`0-2,5,7-9`: ranges are inclusive, as in Aurora."""
    ranges = []
    for part in text.split(","):
        start, dash, end = part.strip().partition("-")
        if not is_number(start) or (dash and not is_number(end)):
            raise InvalidParameterError(
                f"instances {text!r}: {part!r} is not a number or a range like 0-3"
            )
        first, last = int(start), int(end) if dash else int(start)
        if last < first:
            raise InvalidParameterError(f"instances {text!r}: range {part!r} runs backwards")
        ranges.append((first, last))
    return InstanceRanges(tuple(ranges))


def parse_instances(text: str) -> tuple[int, ...]:
    """`0-2,5,7-9` -> (0, 1, 2, 5, 7, 8, 9), at most `MAX_LISTED_INSTANCES` of them."""
    ranges = parse_instance_ranges(text)
    count = ranges.count()
    if count > MAX_LISTED_INSTANCES:
        raise InvalidParameterError(
            f"instances {text!r} names {count:,} instances; at most "
            f"{MAX_LISTED_INSTANCES:,} may be named at once"
        )
    chosen: set[int] = set()
    for first, last in ranges.ranges:
        chosen.update(range(first, last + 1))
    return tuple(sorted(chosen))


def format_instances(instances: Sequence[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5', the inverse of `parse_instances`."""
    parts: list[str] = []
    for instance in sorted(instances):
        if parts and parts[-1].split("-")[-1] == str(instance - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{instance}"
        else:
            parts.append(str(instance))
    return ",".join(parts)


def parse_instance_key(text: str) -> tuple[JobKey, tuple[int, ...] | None]:
    """`cluster/role/env/name[/instances]`: the job, and the instances if given."""
    parts = text.split("/")
    if len(parts) == 5:
        return parse_job_key("/".join(parts[:4])), parse_instances(parts[4])
    return parse_job_key(text), None
