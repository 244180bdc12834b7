"""The binding helper `{{docker.image[NAME][TAG]}}` against real registries: one that hands out
bearer tokens as Docker Hub does, one that wants a password (given the login left for it), and
Docker Hub by default."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from daybreak.certs import new_ca, new_cert
from daybreak.client import docker_registry
from daybreak.client.docker_registry import image_pinner
from daybreak.client.registry_logins import login_for
from daybreak.errors import InvalidParameterError, NetworkError
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
        registry(directory / "registry", settings=server.registry_auth()) as address,
    ):
        image = push(build_image(directory / "web", {"/etc/motd": "one\n"}), address, "web:1")
        yield server, address, digest_of(image)


def digest_of(image: str, creds: str | None = None) -> str:
    login = [] if creds is None else ["--creds", creds]
    return subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", *login, "--format", "{{.Digest}}",
         f"docker://{image}"], capture_output=True, text=True, check=True,
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


def log_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: str, user: str,
           password: str) -> Path:  # fmt: skip
    """An auth file as `skopeo login` writes it, where the binding helper looks first."""
    auth_file = tmp_path / "auth.json"
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    auth_file.write_text(json.dumps({"auths": {host: {"auth": pair}}}))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file))
    return auth_file


def test_a_registry_that_wants_a_password_is_given_the_login_left_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with registry(tmp_path / "registry", users={"ops": "secret"}) as address:
        image = push(build_image(tmp_path / "web", {"/etc/motd": "one\n"}), address, "web:1",
                     creds="ops:secret")  # fmt: skip
        name_cluster(tmp_path, monkeypatch, docker_registry=f"http://{address}")
        monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "no-such-file.json"))
        with pytest.raises(InvalidParameterError) as refused:
            image_pinner(CLUSTER)("web", "1")
        assert str(refused.value) == (
            f"http://{address} wants credentials (Basic) to read web:1: log in to it first "
            f"(`skopeo login`, `podman login` or `docker login`)"
        )
        auth_file = log_in(tmp_path, monkeypatch, address, "ops", "wrong")
        with pytest.raises(InvalidParameterError) as refused:
            image_pinner(CLUSTER)("web", "1")
        assert str(refused.value) == (
            f"http://{address} did not let ops (logged in by {auth_file}) read web:1 (or there "
            f"is none of that name)"
        )
        log_in(tmp_path, monkeypatch, address, "ops", "secret")
        assert (
            image_pinner(CLUSTER)("web", "1") == f"{address}/web@{digest_of(image, 'ops:secret')}"
        )


def test_a_token_is_asked_for_with_the_login_left_for_the_registry(
    tokens: tuple[TokenServer, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, address, digest = tokens
    name_cluster(tmp_path, monkeypatch, docker_registry=f"http://{address}")
    log_in(tmp_path, monkeypatch, address, "ci", "hunter2")
    shown = len(server.logins_shown)
    assert image_pinner(CLUSTER)("web", "1") == f"{address}/web@{digest}"
    pair = base64.b64encode(b"ci:hunter2").decode()
    assert server.logins_shown[shown:] == [f"Basic {pair}"]


def test_a_registry_over_tls_is_verified_with_the_systems_cas_and_the_clusters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry of the cluster's own PKI and a public one are both reached from a cluster
    that names its CA file (the system's CAs here: SSL_CERT_FILE, a CA made for the test)."""
    certificates = {}
    for pki in ("cluster", "public"):
        new_ca(tmp_path / pki, f"{pki} CA")
        cert, key = new_cert(tmp_path / pki, tmp_path / f"{pki}-registry", ["127.0.0.1"])
        certificates[pki] = f"  tls:\n    certificate: {cert}\n    key: {key}\n"
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "public" / "ca.pem"))
    with (
        registry(tmp_path / "ours", settings=certificates["cluster"]) as ours,
        registry(tmp_path / "theirs", settings=certificates["public"]) as theirs,
    ):
        layout = build_image(tmp_path / "web", {"/etc/motd": "one\n"})
        for address in (ours, theirs):
            image = push(layout, address, "web:1")
            name_cluster(tmp_path, monkeypatch, docker_registry=address)
            if address == ours:
                with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"):
                    image_pinner(CLUSTER)("web", "1")  # the system's CAs do not know it
            name_cluster(tmp_path, monkeypatch, docker_registry=address, ca_file="cluster/ca.pem")
            assert image_pinner(CLUSTER)("web", "1") == f"{address}/web@{digest_of(image)}"


def test_a_broken_auth_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    auth_file = tmp_path / "auth.json"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.docker/config.json of the machine's
    auth_file.write_text("{not json")
    with pytest.raises(InvalidParameterError, match=f"{auth_file}: not a registry auth file"):
        login_for("reg:5000")
    auth_file.write_text(json.dumps({"auths": {"reg:5000": {"auth": "bm9jb2xvbg=="}}}))
    with pytest.raises(InvalidParameterError) as refused:
        login_for("reg:5000")
    assert str(refused.value) == (
        f"{auth_file}: the login for reg:5000 is not base64 of USER:PASSWORD"
    )
    assert login_for("other:5000") is None
