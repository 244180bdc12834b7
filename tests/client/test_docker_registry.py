"""The binding helper `{{docker.image[NAME][TAG]}}` against real registries: one that hands out
bearer tokens as Docker Hub does, one that wants a password, and Docker Hub by default."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from daybreak.client import docker_registry
from daybreak.client.docker_registry import image_pinner
from daybreak.errors import InvalidParameterError
from tests.images import build_image, push, registry
from tests.registry_tokens import TokenServer, token_server

CLUSTER = "pinning"


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TokenServer, str, str]]:
    """A registry that lets in only bearers of its token server's tokens, holding `web:1`:
    the server, the registry's address and the image's digest."""
    directory = tmp_path_factory.mktemp("token-registry")
    with (
        token_server(directory / "tokens") as server,
        registry(directory / "registry", auth=server.registry_auth()) as address,
    ):
        image = push(build_image(directory / "web", {"/etc/motd": "one\n"}), address, "web:1")
        yield server, address, digest_of(image)


def digest_of(image: str) -> str:
    return subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}", f"docker://{image}"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def name_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **entry: str) -> None:
    (tmp_path / "clusters.json").write_text(
        json.dumps([{"name": CLUSTER, "scheduler_uri": "http://127.0.0.1:9", **entry}])
    )
    monkeypatch.setenv("DAYBREAK_CONFIG_ROOT", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))


def test_a_registry_that_wants_a_token_gives_one_to_read_with(
    tokens: tuple[TokenServer, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, address, digest = tokens
    name_cluster(tmp_path, monkeypatch, docker_registry=f"http://{address}")
    asked = len(server.scopes_asked)
    assert image_pinner(CLUSTER)("web", "1") == f"{address}/web@{digest}"
    assert server.scopes_asked[asked:] == ["repository:web:pull"]
    with pytest.raises(InvalidParameterError, match=f"no image web:2 in http://{address}"):
        image_pinner(CLUSTER)("web", "2")


def test_a_cluster_that_names_no_registry_asks_docker_hub(
    tokens: tuple[TokenServer, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As Aurora's client did; the digest is named `docker.io/...`, so that agents whose bare
    names go to a registry of their own still pull it from Docker Hub."""
    _, address, digest = tokens
    name_cluster(tmp_path, monkeypatch)
    monkeypatch.setattr(docker_registry, "DOCKER_HUB", f"http://{address}")
    assert image_pinner(CLUSTER)("web", "1") == f"docker.io/web@{digest}"


def test_a_registry_that_wants_a_password_is_named_in_the_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with registry(tmp_path / "registry", users={"ops": "secret"}) as address:
        name_cluster(tmp_path, monkeypatch, docker_registry=f"http://{address}")
        with pytest.raises(InvalidParameterError) as refused:
            image_pinner(CLUSTER)("web", "1")
    assert str(refused.value) == (
        f"http://{address} wants credentials (Basic) to read web:1; the binding helper asks "
        f"as anyone, as Aurora's did"
    )
