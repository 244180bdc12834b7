"""`daybreak up` and `daybreak down`: a whole cluster on this machine, for trying things.

The scheduler (SQLite under the data directory) and N agents (hosts `agent-1..`, racks
`r1..`, each with its own port range) run as processes on 127.0.0.1; `daybreak up` registers
them as cluster `devcluster` in the user's clusters file. Stopping them leaves the tasks
running, as an agent restart does: the next `daybreak up` re-attaches to them, so the cluster
resumes where it was.
"""

from __future__ import annotations

import getpass
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from daybreak.agent.machine import detect_resources
from daybreak.errors import DaybreakError, InvalidParameterError, NetworkError

CLUSTER = "devcluster"
# Tasks' ports sit below Linux's ephemeral range (32768-60999): a port the kernel hands out
# for an outgoing connection is never one a task was promised.
TASK_PORTS = range(20000, 32768)
PORTS_PER_AGENT = 1000
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DevCluster:
    data: Path
    port: int
    agents: int
    # Several schedulers (one leads, the others stand by) share a PostgreSQL store.
    schedulers: int = 1
    store: str | None = None  # None: SQLite under `data`
    # A plain-HTTP registry on this machine that the agents pull images from, names without a
    # registry included, and that `{{docker.image[..][..]}}` asks (HOST:PORT).
    registry: str | None = None

    def __post_init__(self) -> None:
        if self.agents > len(TASK_PORTS) // 10:
            raise InvalidParameterError(
                f"--agents {self.agents}: at most {len(TASK_PORTS) // 10} agents share this "
                f"machine's task ports ({TASK_PORTS.start}-{TASK_PORTS.stop - 1})"
            )
        if self.schedulers > 1 and not (self.store or "").startswith("postgres"):
            raise InvalidParameterError(
                f"--schedulers {self.schedulers} needs --store postgresql://...: the embedded "
                "SQLite store holds one scheduler's state, and standbys share a database"
            )

    @property
    def urls(self) -> list[str]:
        """Every scheduler's address: the first at `port`, the next ones after it."""
        return [f"http://127.0.0.1:{self.port + n}" for n in range(self.schedulers)]

    @property
    def url(self) -> str:
        return self.urls[0]

    @property
    def pid_file(self) -> Path:
        return self.data / "pids.json"

    def log(self, name: str) -> Path:
        return self.data / "logs" / f"{name}.log"

    def scheduler_args(self, number: int = 0) -> list[str]:
        store = self.store or f"sqlite:///{(self.data / 'scheduler.db').resolve()}"
        # Supervised: a scheduler that stops itself on a failed write comes back on its own.
        return [
            sys.executable, "-m", "daybreak.supervise", "--",
            sys.executable, "-m", "daybreak", "scheduler",
            "--store", store, "--port", str(self.port + number), "--cluster", CLUSTER,
        ]  # fmt: skip

    def scheduler_log(self, number: int) -> Path:
        return self.log("scheduler" if self.schedulers == 1 else f"scheduler-{number + 1}")

    def agent_ports(self, number: int) -> range:
        """Agent `number`'s share of the task ports: up to 1,000, and all below the
        ephemeral range however many agents there are."""
        size = min(PORTS_PER_AGENT, len(TASK_PORTS) // max(1, self.agents))
        first = TASK_PORTS.start + (number - 1) * size
        return range(first, first + size)

    def agent_args(self, number: int) -> list[str]:
        name = f"agent-{number}"
        ports = self.agent_ports(number)
        return [
            sys.executable, "-m", "daybreak", "agent",
            *(argument for url in self.urls for argument in ("--scheduler", url)),
            "--work-dir", str((self.data / name).resolve()),
            "--agent-id", name, "--hostname", name,
            "--attributes", f"rack=r{number}",
            "--ports", f"{ports.start}-{ports.stop - 1}",
            "--resources", self.agent_share(),
            # A cluster on one's own machine: tasks of roles without an account run as the
            # person who started it.
            "--task-user", getpass.getuser(),
            *(() if self.registry is None else ("--insecure-registry", self.registry,
                                                "--default-registry", self.registry)),
        ]  # fmt: skip

    def agent_share(self) -> str:
        """An equal part of this machine per agent, so that together they offer it once."""
        self.data.mkdir(parents=True, exist_ok=True)
        whole = detect_resources(self.data)
        parts = max(1, self.agents)
        return (
            f"cpu={whole.cpu / parts:.2f},ram={whole.ram_mb // parts}MiB,"
            f"disk={whole.disk_mb // parts}MiB"
        )


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        # A session of its own: Ctrl-C in the terminal reaches `daybreak up`, which stops
        # the others in order.
        return subprocess.Popen(
            args, stdout=output, stderr=output, stdin=subprocess.DEVNULL, start_new_session=True
        )


def _wait_for_agents(cluster: DevCluster, schedulers: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for number, process in enumerate(schedulers):
            if process.poll() is not None:
                raise DaybreakError(
                    f"a scheduler exited with status {process.returncode}; "
                    f"see {cluster.scheduler_log(number)}"
                )
        try:
            # Any scheduler answers: a standby redirects to the leader.
            agents = httpx.get(
                f"{cluster.url}/api/v1/agents", timeout=1, follow_redirects=True
            ).json()["agents"]
        except (httpx.HTTPError, ValueError, KeyError):
            agents = []
        if sum(agent["online"] for agent in agents) >= cluster.agents:
            return
        time.sleep(0.1)
    raise NetworkError(
        f"the cluster did not come up within {START_TIMEOUT_S:g} s; "
        f"see the logs in {cluster.data / 'logs'}"
    )


def is_running(cluster: DevCluster) -> bool:
    return any(_alive(pid) for pid in _read_pids(cluster))


def start(cluster: DevCluster) -> list[subprocess.Popen[bytes]]:
    if is_running(cluster):
        raise DaybreakError(
            f"a cluster already runs from {cluster.data}: `daybreak down --data {cluster.data}`"
        )
    cluster.data.mkdir(parents=True, exist_ok=True)
    schedulers = [
        _spawn(cluster.scheduler_args(number), cluster.scheduler_log(number))
        for number in range(cluster.schedulers)
    ]
    processes = list(schedulers)
    processes += [
        _spawn(cluster.agent_args(n), cluster.log(f"agent-{n}"))
        for n in range(1, cluster.agents + 1)
    ]
    cluster.pid_file.write_text(json.dumps([p.pid for p in processes]))
    try:
        _wait_for_agents(cluster, schedulers)
    except BaseException:
        stop(processes)
        raise
    return processes


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Agents first, then the scheduler, so none of them reports the others gone."""
    for process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _read_pids(cluster: DevCluster) -> list[int]:
    try:
        return [int(pid) for pid in json.loads(cluster.pid_file.read_text())]
    except (OSError, ValueError):
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def down(cluster: DevCluster) -> int:
    """Stop a cluster started with `--detach`; returns how many processes were stopped."""
    pids = [pid for pid in _read_pids(cluster) if _alive(pid)]
    for pid in reversed(pids):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    cluster.pid_file.unlink(missing_ok=True)
    return len(pids)


def greeting(cluster: DevCluster) -> str:
    return "\n".join(
        [
            f"Daybreak is up: {_schedulers(cluster)} and {cluster.agents} agents, "
            f"cluster {CLUSTER!r}.",
            f"  UI and API:  {cluster.url}   (API under {cluster.url}/api/v1)",
            f"  state, logs: {cluster.data}",
            "Try:",
            f"  daybreak job create {CLUSTER}/www-data/devel/hello_world "
            "examples/hello_world.aurora --wait-until RUNNING",
            f"  daybreak job status {CLUSTER}/www-data/devel/hello_world",
        ]
    )


def _schedulers(cluster: DevCluster) -> str:
    if cluster.schedulers == 1:
        return "a scheduler"
    return f"{cluster.schedulers} schedulers ({', '.join(cluster.urls)}; one leads)"


def run_foreground(cluster: DevCluster, started: Callable[[], None]) -> None:
    """Run the cluster until Ctrl-C or SIGTERM; `started` is called once it is up."""
    stopping = False

    def on_signal(_number: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    # Ctrl-C is how this is stopped, even when whatever started it ignored SIGINT (as a
    # shell does for the jobs it puts in the background).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    processes = start(cluster)
    try:
        signal.signal(signal.SIGTERM, on_signal)
        started()
        print(greeting(cluster))
        print("Ctrl-C stops the scheduler and the agents; tasks keep running until next time.")
        sys.stdout.flush()
        while not stopping and all(p.poll() is None for p in processes):
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        # Whenever Ctrl-C comes, even while the greeting prints, nothing is left behind.
        print("Stopping the agents and the scheduler...")
        stop(processes)
        cluster.pid_file.unlink(missing_ok=True)
