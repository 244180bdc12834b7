"""Inside a task, the CLI finds its cluster and credential in what the agent gave it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from daybreak.client.clusters import find_cluster
from daybreak.client.credentials import credentials_for
from daybreak.errors import AuthError


@pytest.fixture
def in_a_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config_root = tmp_path / "config"
    config_root.mkdir()
    # A clusters file that names the cluster too, as on a host the operator set up.
    (config_root / "clusters.json").write_text(
        json.dumps([{"name": "west", "scheduler_uri": "http://elsewhere:1"}])
    )
    token = tmp_path / "token"
    token.write_text("dbw1.first.x\n")
    for name, value in {
        "DAYBREAK_CONFIG_ROOT": str(config_root),
        "HOME": str(tmp_path),
        "DAYBREAK_CLUSTER": "west",
        "DAYBREAK_API": "https://10.0.0.1:8081,https://10.0.0.2:8081/",
        "DAYBREAK_TOKEN_FILE": str(token),
        "DAYBREAK_CA_FILE": str(tmp_path / "ca.pem"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DAYBREAK_TOKEN", raising=False)
    return token


def test_the_tasks_own_cluster_comes_from_its_environment(in_a_task: Path) -> None:
    entry = find_cluster("west")
    assert entry.scheduler_urls == ("https://10.0.0.1:8081", "https://10.0.0.2:8081")
    assert entry.token_file == in_a_task
    assert entry.ca_file == in_a_task.parent / "ca.pem"


def test_another_cluster_still_comes_from_the_clusters_file(
    in_a_task: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAYBREAK_CLUSTER", "east")
    assert find_cluster("west").scheduler_urls == ("http://elsewhere:1",)


def test_the_credential_is_read_again_for_each_request(in_a_task: Path) -> None:
    auth = credentials_for(find_cluster("west"))
    assert auth is not None

    def sent(auth: httpx.Auth) -> str:
        request = httpx.Request("GET", "https://10.0.0.1:8081/api/v1/jobs")
        return next(auth.sync_auth_flow(request)).headers["Authorization"]

    assert sent(auth) == "Bearer dbw1.first.x"
    in_a_task.write_text("dbw1.renewed.y\n")  # the agent replaced it
    assert sent(auth) == "Bearer dbw1.renewed.y"
    in_a_task.unlink()
    with pytest.raises(AuthError, match="cannot read the token_file of cluster west"):
        sent(auth)
