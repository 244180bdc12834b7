"""The agent's image store against a real registry: pull progress as it comes, local OCI
archives, one unpacked copy per digest, collection of what no task uses."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from daybreak.agent import images
from daybreak.agent.images import ImageError, ImageStore
from tests.images import build_image, push, registry


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A registry with `big:1` (busybox and 40 MB of random bytes); and its OCI layout."""
    directory = tmp_path_factory.mktemp("images")
    with registry(directory / "registry") as address:
        layout = build_image(directory / "big", {"/opt/blob": os.urandom(40 * 2**20)})
        push(layout, address, "big:1")
        yield address, layout


def test_a_pull_says_how_far_it_is(served: tuple[str, Path], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    address, _ = served
    monkeypatch.setattr(images, "PROGRESS_EVERY_S", 0.02)
    said: list[str] = []
    store = ImageStore(tmp_path / "images", frozenset({address}))
    image = store.ensure(f"{address}/big:1", said.append)
    assert said[0] == f"pulling {address}/big:1"
    assert said[-1] == f"unpacking {address}/big:1"
    shape = re.compile(rf"pulling {re.escape(address)}/big:1 \((\d+) of (\d+) MB\)")
    progress = [(int(m[1]), int(m[2])) for line in said if (m := shape.fullmatch(line))]
    assert len(progress) >= 2, said
    # The layer is the blob gzipped (random bytes: a little bigger); the count only grows.
    assert {total for _, total in progress} == {41}
    assert [done for done, _ in progress] == sorted({done for done, _ in progress})
    assert (image.rootfs / "opt" / "blob").stat().st_size == 40 * 2**20
    # Again: nothing pulled, nothing said.
    again: list[str] = []
    assert store.ensure(f"{address}/big:1", again.append) == image and again == []


def test_an_image_from_a_local_oci_archive(served: tuple[str, Path], tmp_path: Path) -> None:
    _, layout = served
    archive = tmp_path / "big.tar"
    subprocess.run(["skopeo", "copy", f"oci:{layout}:latest", f"oci-archive:{archive}"],
                   check=True, capture_output=True)  # fmt: skip
    image = ImageStore(tmp_path / "images").ensure(f"oci-archive:{archive}", lambda _: None)
    assert (image.rootfs / "opt" / "blob").exists()
    with pytest.raises(ImageError, match=r"cannot pull oci-archive:/nowhere\.tar"):
        ImageStore(tmp_path / "images").ensure("oci-archive:/nowhere.tar", lambda _: None)


def test_collection_takes_what_no_task_uses_oldest_first(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    address, _ = served
    store = ImageStore(tmp_path / "images", frozenset({address}))
    image = store.ensure(f"{address}/big:1", lambda _: None)
    now_ms = int((image.bundle / "used").stat().st_mtime * 1000)
    # In use, or young and within the total: kept.
    assert store.collect({image.digest}, now_ms + 10**9, 1000, 0) == []
    assert store.collect(set(), now_ms + 500, 1000, 10**12) == []
    assert store.collect(set(), now_ms + 500, 1000, 10**6) == [image.digest]  # over the total
    assert not image.bundle.exists()
    assert not list((tmp_path / "images" / "oci" / "blobs" / "sha256").iterdir())
    # Asked for again, it is pulled again.
    said: list[str] = []
    assert store.ensure(f"{address}/big:1", said.append).digest == image.digest
    assert said[0] == f"pulling {address}/big:1"


def test_a_registry_that_wants_credentials_gets_those_of_the_operators_file(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    _, layout = served
    with registry(tmp_path / "private", users={"alice": "s3cret"}) as address:
        name = push(layout, address, "private:1", creds="alice:s3cret")
        refused = ImageStore(tmp_path / "anonymous", frozenset({address}))
        with pytest.raises(ImageError, match="the registry refused the credentials"):
            refused.ensure(name, lambda _: None)
        auth = tmp_path / "auth.json"
        token = base64.b64encode(b"alice:s3cret").decode()
        auth.write_text(json.dumps({"auths": {address: {"auth": token}}}))
        store = ImageStore(tmp_path / "images", frozenset({address}), auth)
        assert (store.ensure(name, lambda _: None).rootfs / "opt" / "blob").exists()
