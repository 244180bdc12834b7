"""TLS between the scheduler, its agents and the CLI (issue 19, item 2), with a CA made by
`daybreak admin new-ca` and certificates by `new-cert`: the scheduler serves HTTPS, an agent and
the CLI verify it against the cluster's CA, a client that does not trust the CA is refused, a
renewed certificate is served after SIGHUP without a restart, and plain HTTP on an address
other machines reach is refused unless asked for."""

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

from daybreak.model.task_state import TaskState
from tests.cluster.conftest import CLUSTER, LocalCluster, running_cluster, wait_for
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
