"""`make demo`: what a newcomer sees first.

Until the scheduler exists this loads every example config, lists the jobs each defines, and
shows the hello-world job the way `daybreak job inspect` does.
"""

from __future__ import annotations

import sys
from pathlib import Path

from daybreak.client.inspect_view import describe
from daybreak.config import load_config, pick_job
from daybreak.errors import DaybreakError
from daybreak.model.jobkey import parse_job_key

EXAMPLES = Path("examples")
HELLO_KEY = "devcluster/www-data/devel/hello_world"


def main() -> int:
    try:
        for path in sorted(EXAMPLES.glob("*.aurora")):
            print(f"{path}:")
            for entry in load_config(path):
                state = (
                    "ok" if entry.spec else "INVALID: " + "; ".join(i.problem for i in entry.issues)
                )
                print(f"  {entry.key}  ({state})")
        hello = EXAMPLES / "hello_world.aurora"
        print(f"\n$ daybreak job inspect {HELLO_KEY} {hello}")
        print(describe(pick_job(load_config(hello), parse_job_key(HELLO_KEY))))
    except DaybreakError as error:
        print(f"Error: {error}", file=sys.stderr)
        return int(error.exit_code)
    print(
        "\nNext: .venv/bin/daybreak help, or .venv/bin/daybreak job inspect KEY FILE --json "
        "for the canonical JobSpec of any job above."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
