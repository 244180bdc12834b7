"""The pure parts of limits, logs and garbage collection, checked on files in a temp dir."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from daybreak.agent.cgroups import TaskCgroups, create_task_cgroups, detect_hierarchies
from daybreak.agent.gc import Unused, to_remove
from daybreak.agent.logs import rotate_file
from daybreak.agent.paths import make_tasks_dir, tasks_dir
from daybreak.errors import InvalidParameterError
from daybreak.model.jobspec import Resources, RotatePolicy
from daybreak.model.units import parse_duration_s

V1_MOUNTS = """\
30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:8 - cgroup cgroup rw,cpu
31 25 0:27 / /sys/fs/cgroup/cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpuacct
33 25 0:29 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory
36 25 0:32 / /sys/fs/cgroup/pids rw,relatime shared:14 - cgroup cgroup rw,pids
37 25 0:33 / /sys/fs/cgroup/systemd rw,relatime shared:15 - cgroup cgroup rw,name=systemd
38 25 0:34 / /sys/fs/cgroup/unified rw,relatime shared:16 - cgroup2 cgroup2 rw
"""
V1_MEMBERSHIP = "9:name=systemd:/\n8:pids:/\n4:memory:/box/7\n2:cpuacct:/\n1:cpu:/\n0::/\n"


def test_v1_hierarchies_are_found_below_the_agents_own_cgroups(tmp_path: Path) -> None:
    mounts = V1_MOUNTS.replace("/sys/fs/cgroup", str(tmp_path))
    for name in ("cpu", "cpuacct", "memory/box/7", "pids", "unified"):
        (tmp_path / name).mkdir(parents=True)
    # The v2 hierarchy offers no controllers, so v1 it is.
    (tmp_path / "unified" / "cgroup.controllers").write_text("\n")
    found = {h.base.relative_to(tmp_path).as_posix(): h for h in
             detect_hierarchies(mounts, V1_MEMBERSHIP)}  # fmt: skip
    assert set(found) == {"cpu", "memory/box/7", "pids"}  # cpuacct alone limits nothing
    assert all(h.version == 1 for h in found.values())
    assert found["memory/box/7"].controllers == {"memory"}


def test_v2_is_used_when_it_can_hand_every_controller_down(tmp_path: Path) -> None:
    mounts = f"38 25 0:34 / {tmp_path} rw,relatime - cgroup2 cgroup2 rw\n"
    own = tmp_path / "agents" / "a1"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (own / "cgroup.subtree_control").write_text("\n")
    [hierarchy] = detect_hierarchies(mounts, "0::/agents/a1\n")
    assert hierarchy.version == 2 and hierarchy.base == own
    assert (own / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    cgroups = create_task_cgroups([hierarchy], "a1", "t1", Resources(cpu=1.5, ram_mb=128,
                                  disk_mb=1), pids_max=99)  # fmt: skip
    [directory] = cgroups.directories
    assert directory == own / "daybreak-a1" / "t1"
    assert (directory / "cpu.max").read_text() == "150000 100000"
    assert (directory / "memory.max").read_text() == str(128 * 1024**2)
    assert (directory / "pids.max").read_text() == "99"


def test_a_cgroup_reports_oom_kills_and_working_set(tmp_path: Path) -> None:
    (tmp_path / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (tmp_path / "memory.usage_in_bytes").write_text(str(100 * 1024**2))
    (tmp_path / "memory.stat").write_text(f"cache 1\ntotal_inactive_file {40 * 1024**2}\n")
    (tmp_path / "memory.limit_in_bytes").write_text("1")
    cgroups = TaskCgroups((tmp_path,))
    assert cgroups.oom_kills() == 2
    assert cgroups.ram_bytes() == 60 * 1024**2
    assert cgroups.memory_limited
    assert TaskCgroups(()).oom_kills() == 0 and TaskCgroups(()).ram_bytes() is None


def test_rotation_keeps_the_configured_number_of_backups(tmp_path: Path) -> None:
    log = tmp_path / "stdout"
    policy = RotatePolicy(log_size=10, backups=2)
    for text in ("first run of output\n", "second run of output\n", "third run of output\n"):
        log.write_text(text)
        assert rotate_file(log, policy)
    assert log.read_text() == ""
    assert (tmp_path / "stdout.1").read_text() == "third run of output\n"
    assert (tmp_path / "stdout.2").read_text() == "second run of output\n"
    assert not (tmp_path / "stdout.3").exists()
    log.write_text("small\n")
    assert not rotate_file(log, policy)


def test_sandboxes_go_past_their_age_then_oldest_first_past_the_total() -> None:
    finished = [
        Unused("old", since_ms=0, size_bytes=1),
        Unused("a", since_ms=500, size_bytes=40),
        Unused("b", since_ms=600, size_bytes=40),
        Unused("c", since_ms=700, size_bytes=40),
    ]
    assert to_remove(finished, now_ms=1000, max_age_ms=800, max_total_bytes=100) == [
        "old",
        "a",
    ]
    assert to_remove(finished, now_ms=1000, max_age_ms=10_000, max_total_bytes=500) == []


@pytest.mark.parametrize(("text", "seconds"), [("7d", 604800), ("100ms", 0.1), ("90", 90)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration_s(text, "--x") == pytest.approx(seconds)


def test_a_bad_duration_says_what_to_write() -> None:
    with pytest.raises(InvalidParameterError, match="--sandbox-max-age: cannot read 'soon'"):
        parse_duration_s("soon", "--sandbox-max-age")


def test_the_sandboxes_directory_is_marked_as_the_top_of_independent_trees(tmp_path: Path) -> None:
    make_tasks_dir(tmp_path)
    make_tasks_dir(tmp_path)  # a restarted agent finds it made and marked
    listing = subprocess.run(
        ["lsattr", "-d", str(tasks_dir(tmp_path))], capture_output=True, text=True, check=False
    )
    if listing.returncode != 0:
        pytest.skip(f"this filesystem keeps no inode flags: {listing.stderr.strip()}")
    assert "T" in listing.stdout.split()[0]
