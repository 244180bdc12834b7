"""`make demo`: a local cluster, the hello-world job running on it, and where to look.

Starts `daybreak up --detach` (unless a cluster from `.daybreak` already runs), creates the
example job and waits until it is RUNNING, then shows `daybreak job status`. Each step is the
command a user would type, printed before it runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from daybreak.devcluster import CLUSTER, DevCluster, is_running

HELLO_KEY = f"{CLUSTER}/www-data/devel/hello_world"
HELLO_CONFIG = "examples/hello_world.aurora"
DATA = Path(".daybreak")


def daybreak(*args: str, check: bool = True) -> int:
    print(f"\n$ daybreak {' '.join(args)}", flush=True)
    result = subprocess.run([sys.executable, "-m", "daybreak", *args], check=False)
    if check and result.returncode != 0:
        raise SystemExit(result.returncode)
    return result.returncode


def main() -> int:
    cluster = DevCluster(DATA, 8081, 3)
    if is_running(cluster):
        print(f"A local cluster already runs from {DATA}; using it.")
    else:
        daybreak("up", "--detach")
    status = subprocess.run(
        [sys.executable, "-m", "daybreak", "job", "status", HELLO_KEY, "--json"],
        capture_output=True,
        check=False,
    )
    running = status.returncode == 0 and bool(json.loads(status.stdout)["active"])
    if running:
        print(f"\n{HELLO_KEY} already runs.")
    else:
        daybreak("job", "create", HELLO_KEY, HELLO_CONFIG, "--wait-until", "RUNNING")
    daybreak("job", "status", HELLO_KEY)
    print(
        "\nWhere to look:\n"
        f"  web UI:   {cluster.url}/scheduler/www-data/devel/hello_world  (live; all roles at "
        f"{cluster.url}/scheduler)\n"
        f"  API:      {cluster.url}/api/v1/jobs  (OpenAPI at {cluster.url}/api/v1/openapi.json)\n"
        f"  sandboxes: {DATA}/agent-*/tasks/*/sandbox, logs in {DATA}/logs\n"
        "  CLI:      .venv/bin/daybreak job list devcluster\n"
        f"  stop:     .venv/bin/daybreak job killall {HELLO_KEY}; .venv/bin/daybreak down"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
