"""TLS between the scheduler, its agents and the CLI (issue 19, item 2), with a CA made by
`daybreak admin new-ca` and certificates by `new-cert`: the scheduler serves HTTPS, an agent and
the CLI verify it against the cluster's CA, a client that does not trust the CA is refused, a
renewed certificate is served after SIGHUP without a restart, plain HTTP on an address other
machines reach is refused unless asked for, and agents may prove who they are with a client
certificate instead of a token (mutual TLS, on the agents' own port)."""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from cryptography import x509
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.sync.client import connect

from daybreak.agent.link import connect_url
from daybreak.model.task_state import TaskState
from daybreak.tls import client_context
from tests.agent.conftest import AgentProcess
from tests.cluster.conftest import (
    CLUSTER,
    LocalCluster,
    free_port,
    running_cluster,
    unique_role,
    wait_for,
)
from tests.cluster.test_security import ALICE_TOKEN, bearer, security_file
from tests.cluster.test_workload_identity import DAYBREAK
from tests.conftest import run_cli


def served_serial(port: int, ca_file: Path) -> int:
    """The serial number of the certificate a new connection to the scheduler gets."""
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as wrapped,
    ):
        der = wrapped.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


@pytest.fixture
def tls_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCluster]:
    pki = tmp_path / "pki"
    assert run_cli(["admin", "new-ca", str(pki)]).code == 0
    made = run_cli(["admin", "new-cert", str(pki / "scheduler"), "--ca", str(pki),
                    "--name", "127.0.0.1", "--name", "localhost"])  # fmt: skip
    assert made.code == 0, made.err
    assert (pki / "scheduler-key.pem").stat().st_mode & 0o077 == 0  # the key is the owner's
    with running_cluster(
        "sqlite", tmp_path,
        "--tls-cert", str(pki / "scheduler.pem"), "--tls-key", str(pki / "scheduler-key.pem"),
        agent_args=("--ca-file", str(pki / "ca.pem")), agents=1, ca_file=pki / "ca.pem",
    ) as local:  # fmt: skip
        config_root = tmp_path / "config"
        config_root.mkdir()
        (config_root / "clusters.json").write_text(json.dumps([
            {"name": CLUSTER, "scheduler_uri": local.scheduler.url, "ca_file": "../pki/ca.pem"}
        ]))  # fmt: skip
        monkeypatch.setenv("DAYBREAK_CONFIG_ROOT", str(config_root))
        monkeypatch.setenv("HOME", str(tmp_path))
        yield local


def test_agents_and_the_cli_verify_the_scheduler_and_run_a_job_over_tls(
    tls_cluster: LocalCluster, tmp_path: Path
) -> None:
    assert tls_cluster.scheduler.url.startswith("https://")
    key = f"{CLUSTER}/{tls_cluster.role}/devel/secure"
    # The task asks too, verifying the scheduler against the CA its agent gave it.
    asked = tmp_path / "asked-by-the-task"
    cmdline = f"{DAYBREAK} job status {key} > {asked} 2>&1; echo $? >> {asked}; sleep 600"
    spec = tls_cluster.job(name="secure", instances=1, cmdline=cmdline)
    created = tls_cluster.api.post("/jobs", content=msgspec.json.encode(spec))
    assert created.status_code == 201, created.text
    tls_cluster.wait_for_states(spec.key, TaskState.RUNNING, 1)  # the agent, over wss://
    status = run_cli(["job", "status", str(spec.key)])
    assert status.code == 0, status.err
    assert "RUNNING" in status.out
    answer = wait_for(lambda: asked.exists() and asked.read_text().endswith("\n0\n") and
                      asked.read_text(), "the task's own call over TLS")  # fmt: skip
    assert key in answer
    # Without the cluster's CA, neither a client nor the CLI trusts the scheduler.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(tls_cluster.scheduler.url + "/health")
    (tmp_path / "config" / "clusters.json").write_text(json.dumps([
        {"name": CLUSTER, "scheduler_uri": tls_cluster.scheduler.url}
    ]))  # fmt: skip
    untrusted = run_cli(["job", "status", str(spec.key)])
    assert untrusted.code != 0
    assert "certificate" in untrusted.err.lower(), untrusted.err


def test_a_renewed_certificate_is_served_after_sighup(tls_cluster: LocalCluster) -> None:
    scheduler = tls_cluster.scheduler
    pki = tls_cluster.directory / "pki"
    before = served_serial(scheduler.port, pki / "ca.pem")
    renewed = run_cli(["admin", "new-cert", str(pki / "renewed"), "--ca", str(pki),
                       "--name", "127.0.0.1"])  # fmt: skip
    assert renewed.code == 0, renewed.err
    (pki / "renewed.pem").replace(pki / "scheduler.pem")
    (pki / "renewed-key.pem").replace(pki / "scheduler-key.pem")
    assert scheduler.process is not None
    scheduler.process.send_signal(signal.SIGHUP)
    wait_for(lambda: served_serial(scheduler.port, pki / "ca.pem") != before,
             "the renewed certificate served")  # fmt: skip
    assert scheduler.process.poll() is None  # reloaded, not restarted
    assert tls_cluster.online("agent-1")


def test_plain_http_where_other_machines_reach_it_is_refused_unless_asked(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "daybreak", "scheduler", "--store",
            f"sqlite:///{tmp_path / 'd.db'}", "--host", "0.0.0.0", "--port", "1"]  # fmt: skip
    refused = subprocess.run(base, capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode != 0
    assert "0.0.0.0 is reachable from other machines" in refused.stderr
    half = subprocess.run([*base, "--tls-cert", __file__], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert half.returncode != 0 and "give both --tls-cert and --tls-key" in half.stderr


def test_new_cert_needs_a_ca_and_keeps_what_exists(tmp_path: Path) -> None:
    missing = run_cli(["admin", "new-cert", str(tmp_path / "s"), "--ca", str(tmp_path / "none"),
                       "--name", "h"])  # fmt: skip
    assert missing.code != 0 and "no usable CA in" in missing.err
    assert run_cli(["admin", "new-ca", str(tmp_path / "ca")]).code == 0
    again = run_cli(["admin", "new-ca", str(tmp_path / "ca")])
    assert again.code != 0 and "exists: remove it first" in again.err


def agent_socket(url: str, tls: ssl.SSLContext) -> int:
    """Open the agents' WebSocket as an agent would (without a token); its HTTP status."""
    try:
        with connect(connect_url(url), ssl=tls, open_timeout=5):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


def test_agents_may_show_a_client_certificate_instead_of_a_token(tmp_path: Path) -> None:
    pki, stranger = tmp_path / "pki", tmp_path / "stranger"
    for ca in (pki, stranger):
        assert run_cli(["admin", "new-ca", str(ca)]).code == 0
    for args in (["new-cert", str(pki / "scheduler"), "--ca", str(pki), "--name", "127.0.0.1"],
                 ["new-cert", str(pki / "agent"), "--ca", str(pki), "--name", "agent-1", "--client"],
                 ["new-cert", str(stranger / "agent"), "--ca", str(stranger), "--name", "agent-1",
                  "--client"]):  # fmt: skip
        made = run_cli(["admin", *args])
        assert made.code == 0, made.err
    role = unique_role()
    agent_port = free_port()
    with running_cluster(
        "sqlite", tmp_path, "--security", str(security_file(tmp_path / "security.toml", role)),
        "--tls-cert", str(pki / "scheduler.pem"), "--tls-key", str(pki / "scheduler-key.pem"),
        "--agent-port", str(agent_port), "--agent-ca", str(pki / "ca.pem"),
        agents=0, role=role, ca_file=pki / "ca.pem",
    ) as local:  # fmt: skip
        agent = AgentProcess(
            f"https://127.0.0.1:{agent_port}", tmp_path / "agent-1", "--agent-id", "agent-1",
            "--ca-file", str(pki / "ca.pem"), "--client-cert", str(pki / "agent.pem"),
            "--client-key", str(pki / "agent-key.pem"),
        )  # fmt: skip
        local.agents.append(agent.start())
        local.wait_until_online(agent)  # no token: its certificate
        spec = local.job(name="certified", instances=1)
        created = local.api.post("/jobs", content=msgspec.json.encode(spec),
                                 headers=bearer(ALICE_TOKEN))  # fmt: skip
        assert created.status_code == 201, created.text
        local.wait_for_states(spec.key, TaskState.RUNNING, 1)

        certified = client_context(pki / "ca.pem", pki / "agent.pem", pki / "agent-key.pem")
        assert agent_socket(f"https://127.0.0.1:{agent_port}", certified) == 101
        # The certificate counts only on the agents' port; elsewhere a token is asked for (a
        # WebSocket refused before it opens is answered 403, whatever the reason).
        assert agent_socket(local.scheduler.url, certified) == 403
        # The agents' port takes no connection without a certificate of the agents' CA.
        for tls in (client_context(pki / "ca.pem"),
                    client_context(pki / "ca.pem", stranger / "agent.pem",
                                   stranger / "agent-key.pem")):  # fmt: skip
            with pytest.raises((ssl.SSLError, OSError, WebSocketException)):
                agent_socket(f"https://127.0.0.1:{agent_port}", tls)
