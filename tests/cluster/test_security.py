"""Authentication and authorization on a real scheduler: every mutating route answers 401
without credentials and 403 to a user of another role; agents need their own token."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec
import pytest

from daybreak.model.api import API_PREFIX, AgentList
from daybreak.model.credentials import hash_password, hash_token
from daybreak.model.task_state import TaskState
from tests.agent.conftest import AgentProcess
from tests.cluster.conftest import (
    CLUSTER,
    LocalCluster,
    SchedulerProcess,
    running_cluster,
    sqlite_only,
    unique_role,
    wait_for,
)
from tests.conftest import run_cli

ALICE_TOKEN, BOB_TOKEN, OPS_TOKEN, AGENT_TOKEN = "alice-t0ken", "bob-t0ken", "ops-t0ken", "ag-t0ken"


def security_file(path: Path, role: str, open_reads: bool = True) -> Path:
    path.write_text(
        f"""
open_reads = {str(open_reads).lower()}

[users.alice]
roles = ["{role}"]
password = "{hash_password("wonderland")}"
tokens = ["{hash_token(ALICE_TOKEN)}"]

[users.bob]
roles = ["someone-else"]
tokens = ["{hash_token(BOB_TOKEN)}"]

[users.ops]
admin = true
tokens = ["{hash_token(OPS_TOKEN)}"]

[agents]
tokens = ["{hash_token(AGENT_TOKEN)}"]
"""
    )
    return path


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def secured_cluster(backend: str, tmp_path: Path, *scheduler_args: str) -> Iterator[LocalCluster]:
    """A scheduler with alice (of the cluster's role), bob (of another) and ops (an admin),
    and one agent with its token."""
    credential = tmp_path / "agent-token"
    credential.write_text(AGENT_TOKEN + "\n")
    role = unique_role()
    config = security_file(tmp_path / "security.toml", role)
    with running_cluster(
        backend, tmp_path, "--security", str(config), *scheduler_args,
        agent_args=("--credential-file", str(credential)), agents=1, role=role,
    ) as local:  # fmt: skip
        yield local


@pytest.fixture
def secured(backend: str, tmp_path: Path) -> Iterator[LocalCluster]:
    with secured_cluster(backend, tmp_path) as local:
        yield local


def mutating_routes(api: httpx.Client, role: str) -> list[tuple[str, str]]:
    """Every route of the OpenAPI document that is not a read, with its path filled in."""
    document = api.get("/openapi.json").json()
    values = {"cluster": CLUSTER, "role": role, "environment": "devel", "name": "hello",
              "operation": "pause"}  # fmt: skip
    routes = []
    for path, operations in document["paths"].items():
        for method in operations:
            if method in ("get", "head", "options"):
                continue
            filled = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
            routes.append((method.upper(), filled.removeprefix(API_PREFIX)))
    return routes


def test_every_mutating_route_needs_credentials_and_the_role(secured: LocalCluster) -> None:
    api = secured.api
    spec = secured.job(instances=1)
    body = msgspec.json.encode(spec)
    routes = [*mutating_routes(api, secured.role), ("GET", "/backup"), ("GET", "/audit")]
    assert ("POST", "/jobs") in routes and len(routes) >= 2
    admin_only = set()
    for method, path in routes:
        anonymous = api.request(method, path, content=body)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        assert "Bearer" in anonymous.headers["www-authenticate"]
        assert "needs credentials" in anonymous.json()["error"]
        wrong = api.request(method, path, content=body, headers=bearer("not-a-token"))
        assert wrong.status_code == 401, (method, path)
        other_role = api.request(method, path, content=body, headers=bearer(BOB_TOKEN))
        assert other_role.status_code == 403, (method, path, other_role.text)
        assert other_role.json()["error"].startswith("bob ")
        as_owner = api.request(method, path, content=b"{}", headers=bearer(ALICE_TOKEN))
        if as_owner.status_code == 403:
            assert as_owner.json()["error"] == "alice is not an admin"
            admin_only.add((method, path))
    assert admin_only == {
        ("POST", "/maintenance"),
        ("PUT", f"/quotas/{secured.role}"),
        ("GET", "/backup"),
        ("POST", "/restore"),
        ("GET", "/audit"),
    }

    # The role's user may; so may an admin; reads stay open as configured.
    assert api.post("/jobs", content=body, headers=bearer(ALICE_TOKEN)).status_code == 201
    secured.wait_for_states(spec.key, TaskState.RUNNING, 1)
    killed = api.post(f"/jobs/{spec.key}/kill", json={}, headers=bearer(OPS_TOKEN))
    assert killed.status_code == 200
    secured.wait_for_states(spec.key, TaskState.KILLED, 1)


@sqlite_only
def test_http_basic_with_the_users_password(secured: LocalCluster) -> None:
    spec = secured.job(instances=1)
    body = msgspec.json.encode(spec)
    assert secured.api.post("/jobs", content=body, auth=("alice", "guess")).status_code == 401
    assert secured.api.post("/jobs", content=body, auth=("alice", "wonderland")).status_code == 201


@sqlite_only
def test_an_agent_without_the_agents_token_is_turned_away(secured: LocalCluster) -> None:
    bad = secured.directory / "bad-token"
    bad.write_text("guess")
    impostor = AgentProcess(
        secured.scheduler.url, secured.directory / "impostor",
        "--agent-id", "impostor", "--credential-file", str(bad),
    )  # fmt: skip
    secured.agents.append(impostor.start())
    wait_for(lambda: "HTTP 403" in impostor.log.read_text(), "the impostor refused")
    agents = msgspec.json.decode(secured.api.get("/agents").content, type=AgentList).agents
    assert [a.agent_id for a in agents if a.online] == ["agent-1"]
    assert "impostor" not in [a.agent_id for a in agents]


@sqlite_only
def test_an_agent_with_the_token_cannot_claim_another_agents_id(secured: LocalCluster) -> None:
    """The cluster's agent token is not enough to be agent-1: an impostor holding it, with an
    empty inventory, would turn agent-1's tasks LOST. It is turned away with the reason."""
    spec = secured.job(instances=2)
    created = secured.api.post(
        "/jobs", content=msgspec.json.encode(spec), headers=bearer(ALICE_TOKEN)
    )
    assert created.status_code == 201, created.text
    before = secured.wait_for_states(spec.key, TaskState.RUNNING, 2)
    impostor = AgentProcess(
        secured.scheduler.url, secured.directory / "impostor",
        "--agent-id", "agent-1", "--hostname", "agent-1",
        "--credential-file", str(secured.directory / "agent-token"),
    )  # fmt: skip
    secured.agents.append(impostor.start())
    wait_for(lambda: "known by another secret" in impostor.log.read_text(), "the refusal")
    assert "event=agent_refused agent=agent-1" in secured.scheduler.log.read_text()
    after = secured.status(spec.key)
    assert [(t.task_id, t.state) for t in after.active] == [
        (t.task_id, TaskState.RUNNING) for t in before.active
    ]
    agents = msgspec.json.decode(secured.api.get("/agents").content, type=AgentList).agents
    assert [a.agent_id for a in agents if a.online] == ["agent-1"]


@sqlite_only
def test_a_tasks_files_are_its_roles_even_where_reads_are_open(secured: LocalCluster) -> None:
    """Logs hold secrets: listing, reading and following a task's files take its role (or an
    admin) whenever security is on; its summary stays open, as the operator chose."""
    spec = secured.job(instances=1)
    created = secured.api.post(
        "/jobs", content=msgspec.json.encode(spec), headers=bearer(ALICE_TOKEN)
    )
    assert created.status_code == 201, created.text
    [task] = secured.wait_for_states(spec.key, TaskState.RUNNING, 1).active
    files = f"/tasks/{task.task_id}"
    routes = [f"{files}/files", f"{files}/file?path=.logs", f"{files}/file/follow?path=x"]
    key = spec.key
    pages = [f"/scheduler/{key.role}/{key.environment}/{key.name}/task/{task.task_id}/browse",
             f"/scheduler/{key.role}/{key.environment}/{key.name}/task/{task.task_id}/file?path=x"]  # fmt: skip
    web = httpx.Client(base_url=secured.scheduler.url, timeout=10)
    for path in routes:
        anonymous = secured.api.get(path)
        assert anonymous.status_code == 401, (path, anonymous.text)
        assert "need credentials of its role" in anonymous.json()["error"]
        other = secured.api.get(path, headers=bearer(BOB_TOKEN))
        assert other.status_code == 403, (path, other.text)
        assert other.json()["error"] == f"bob may not read the files of role {key.role!r}"
    for path in pages:
        assert web.get(path).status_code == 401, path
        assert web.get(path, headers=bearer(BOB_TOKEN)).status_code == 403, path
        assert web.get(path, headers=bearer(ALICE_TOKEN)).status_code == 200, path
    for token in (ALICE_TOKEN, OPS_TOKEN):
        listed = secured.api.get(routes[0], headers=bearer(token))
        assert listed.status_code == 200, listed.text
    assert secured.api.get(files).status_code == 200  # the summary: open reads
    web.close()


@sqlite_only
def test_a_flood_of_password_guesses_does_not_stall_the_scheduler(secured: LocalCluster) -> None:
    """1,000 concurrent requests, each with another wrong password (nothing to remember): each
    is answered, 401, or 503 or 429 (the client's rate) with Retry-After, and health and bearer
    tokens are served meanwhile to another client. (Checked on the event loop, the scrypt work
    held /health for over a minute.)"""
    base = secured.scheduler.url
    guesses = [httpx.BasicAuth("alice", f"guess-{n}") for n in range(1000)]

    async def flood() -> tuple[list[int], list[str], int]:
        limits = httpx.Limits(max_connections=1000)
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
            attempts = [asyncio.create_task(client.post("/api/v1/jobs", content=b"{}",
                                                        auth=auth)) for auth in guesses]  # fmt: skip
            await asyncio.sleep(0.5)  # the guesses are in
            # Served in the middle of the flood (a hang would time out), without a password, to
            # another address of this machine's loopback: another client.
            other = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
            async with httpx.AsyncClient(base_url=base, transport=other) as calm:
                health = await calm.get("/health", timeout=10)
                quota = await calm.get(f"/api/v1/quotas/{secured.role}",
                                       headers=bearer(ALICE_TOKEN), timeout=10)  # fmt: skip
            answered = await asyncio.gather(*attempts)
        retry = [r.headers.get("retry-after", "") for r in answered if r.status_code == 503]
        return [r.status_code for r in answered], retry, health.status_code + quota.status_code

    statuses, retry, served = asyncio.run(flood())
    assert served == 400  # 200 + 200
    assert set(statuses) <= {401, 429, 503} and statuses.count(401) >= 2
    assert retry == ["1"] * statuses.count(503)


@sqlite_only
def test_the_cli_presents_a_token_and_says_when_it_is_refused(
    secured: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_root = tmp_path / "config"
    config_root.mkdir()
    (config_root / "alice-token").write_text(ALICE_TOKEN)
    clusters = [{"name": CLUSTER, "scheduler_uri": secured.scheduler.url}]
    (config_root / "clusters.json").write_text(json.dumps(clusters))
    monkeypatch.setenv("DAYBREAK_CONFIG_ROOT", str(config_root))
    monkeypatch.setenv("HOME", str(tmp_path))
    key = f"{CLUSTER}/{secured.role}/devel/hello"

    refused = run_cli(["job", "killall", key])
    assert refused.code == 30
    assert "needs credentials" in refused.err

    monkeypatch.setenv("DAYBREAK_TOKEN", BOB_TOKEN)
    refused = run_cli(["job", "killall", key])
    assert refused.code == 30
    assert f"bob may not change jobs of role '{secured.role}'" in refused.err

    monkeypatch.delenv("DAYBREAK_TOKEN")
    clusters[0]["token_file"] = "alice-token"
    (config_root / "clusters.json").write_text(json.dumps(clusters))
    allowed = run_cli(["job", "killall", key])
    assert allowed.code == 6, allowed.err  # authorized; the job just does not exist
    assert f"no job {key}" in allowed.err


def test_reads_can_be_closed(tmp_path: Path) -> None:
    config = security_file(tmp_path / "security.toml", "owner", open_reads=False)
    store = f"sqlite:///{tmp_path / 'scheduler.db'}"
    scheduler = SchedulerProcess(store, tmp_path / "scheduler.log", "--security", str(config))
    scheduler.start()
    try:
        with httpx.Client(base_url=scheduler.url) as http:
            assert http.get("/health").status_code == 200
            assert http.get(API_PREFIX + "/jobs").status_code == 401
            assert http.get(API_PREFIX + "/jobs", headers=bearer(BOB_TOKEN)).status_code == 200
    finally:
        scheduler.stop()


def test_a_broken_security_file_stops_the_start_with_where(tmp_path: Path) -> None:
    config = tmp_path / "security.toml"
    config.write_text('[users.alice]\nroles = ["x"]\ntokens = ["plaintext"]\n')
    store = f"sqlite:///{tmp_path / 'scheduler.db'}"
    scheduler = SchedulerProcess(store, tmp_path / "scheduler.log", "--security", str(config))
    with pytest.raises(AssertionError, match="exited"):
        scheduler.start()
    assert "users.alice.tokens[0] is not a sha256 hash" in scheduler.log.read_text()
    assert "daybreak admin new-token" in scheduler.log.read_text()
