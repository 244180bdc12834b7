"""A container's writable root (real overlay mounts: the agent runs as root, as these tests)."""

from __future__ import annotations

from pathlib import Path

from daybreak.agent.rootfs import exists_inside, mount_writable, unmount
from daybreak.agent.usage import tree_bytes


def test_writes_land_in_the_tasks_layer_and_never_in_the_image(tmp_path: Path) -> None:
    # Unpacked images are named by digest: the colon must not split the overlay's layers.
    lower = tmp_path / "images" / "sha256:abc,def" / "rootfs"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "os-release").write_text("ID=image\n")
    merged = mount_writable(lower, tmp_path / "task" / "container")
    try:
        assert (merged / "etc" / "os-release").read_text() == "ID=image\n"
        (merged / "etc" / "os-release").write_text("ID=changed\n")
        (merged / "data").mkdir()  # as runc makes a volume's mount point
    finally:
        unmount(merged)
    unmount(merged)  # once more: nothing mounted, nothing done
    assert (lower / "etc" / "os-release").read_text() == "ID=image\n"
    assert not (lower / "data").exists()
    upper = tmp_path / "task" / "container" / "upper"
    assert (upper / "etc" / "os-release").read_text() == "ID=changed\n"
    assert (upper / "data").is_dir()


def test_a_tasks_disk_does_not_count_the_image_mounted_in_it(tmp_path: Path) -> None:
    lower = tmp_path / "image"
    lower.mkdir()
    (lower / "big").write_bytes(b"x" * 4 * 2**20)
    task = tmp_path / "task"
    (task / "sandbox").mkdir(parents=True)
    (task / "sandbox" / "out").write_bytes(b"y" * 2**20)
    merged = mount_writable(lower, task / "container")
    try:
        (merged / "written").write_bytes(b"z" * 2**20)  # the task's own: in its upper layer
        used = tree_bytes(task)
    finally:
        unmount(merged)
    assert 2 * 2**20 <= used < 3 * 2**20


def test_a_path_is_looked_up_as_the_container_sees_it(tmp_path: Path) -> None:
    """Symlinks resolve inside the image, absolute ones from its root: never to the machine's
    files (which has a /bin/sh of its own)."""
    image = tmp_path / "image"
    (image / "usr" / "bin").mkdir(parents=True)
    (image / "usr" / "bin" / "dash").write_text("")
    (image / "bin").symlink_to("usr/bin")  # a merged /usr, as Debian's
    (image / "usr" / "bin" / "sh").symlink_to("/usr/bin/dash")
    assert exists_inside(image, "/bin/sh")
    (image / "usr" / "bin" / "dash").unlink()
    assert not exists_inside(image, "/bin/sh")
    (image / "usr" / "bin" / "sh").unlink()
    (image / "usr" / "bin" / "sh").symlink_to("../../../../../../bin/sh")  # out of the image
    assert not exists_inside(image, "/bin/sh")
    (image / "usr" / "bin" / "sh").unlink()
    (image / "usr" / "bin" / "sh").symlink_to("sh")  # a loop
    assert not exists_inside(image, "/bin/sh")
