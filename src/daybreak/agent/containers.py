"""Tasks that run in their image, through `runc` (an OCI runtime).

A containerised task gets one container: the image's root filesystem, unpacked once for every
task of the image, under a writable layer of the task's own (`daybreak.agent.rootfs`; where the
machine cannot mount one, the image's files read-only), with its own mount, PID, IPC and UTS
namespaces and the machine's
network (ports work as for a plain task). Its first process is `catatonit -P`, which only
waits; each run of each of the task's processes enters the container with `runc exec` under
the executor's usual waiter, so ordering, daemons, finalizers, health checks, the kill
escalation and logs work as they do on the host. The container's cgroup is the task's own (a
path relative to the agent's cgroup, as the task's is), so its limits hold inside. The
container lives in runc's state directory, not in the agent: an agent that restarts finds it
running and goes on.

Inside: the sandbox at `/mnt/mesos/sandbox` (Aurora's `MESOS_SANDBOX`), the task's volumes,
and a private `/tmp`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from daybreak.agent.executor.orphans import run_tool
from daybreak.agent.images import Image, ImageStore
from daybreak.agent.paths import TaskPaths
from daybreak.agent.rootfs import (
    MERGED,
    RootfsError,
    exists_inside,
    mount_writable,
    overlay_works,
    unmount,
)
from daybreak.errors import DaybreakError
from daybreak.model.agent import CONTAINER_RUNTIME, SANDBOX_MOUNT
from daybreak.model.docker_parameters import ContainerSettings, read_parameters
from daybreak.model.jobspec import (
    DockerContainer,
    MesosContainer,
    TaskInstance,
    Volume,
    image_reference,
)

log = logging.getLogger("daybreak.agent")

INIT_MOUNT = "/dev/.daybreak-init"  # /dev is the container's own tmpfs: nothing in the image
TOOLS = ("runc", "skopeo", "umoci", "catatonit")
BUNDLE_DIR = "container"  # in the task's directory: config.json and init.pid
# For the `runc exec` that waits beside each process: it only waits and passes signals on, and
# with one thread for Go's scheduler it keeps 0.16 MB of its 1.8 less (benchmarks/containers.py).
EXEC_ENVIRONMENT = {"GOMAXPROCS": "1"}


class ContainerError(DaybreakError):
    pass


class ContainerLaunch(msgspec.Struct, frozen=True, kw_only=True):
    """A task's container, as its checkpoint keeps it."""

    container_id: str
    image: str  # the reference as the job names it
    digest: str
    runc: str
    runtime_root: str  # runc's state directory
    # The overlay mounted as its root, unmounted with it; "" for the image's files read-only.
    rootfs: str = ""


@dataclass(frozen=True)
class Runtime:
    """The tools a machine needs to run tasks in images."""

    runc: str
    catatonit: str
    state_dir: Path
    writable_root: bool  # each container gets a writable layer of its own

    @classmethod
    def find(cls, state_dir: Path) -> Runtime | None:
        found = {tool: shutil.which(tool) for tool in TOOLS}
        if not all(found.values()):
            return None
        return cls(str(found["runc"]), str(found["catatonit"]), state_dir,
                   overlay_works(state_dir))  # fmt: skip

    def attributes(self) -> dict[str, str]:
        """What the agent says of itself (constraints can name them), and what the scheduler
        looks for before placing a task in an image there."""
        root = "writable" if self.writable_root else "read-only"
        return {CONTAINER_RUNTIME: "runc", "image_formats": "docker,oci-archive",
                "container_root": root}  # fmt: skip


def bundle_config(
    image: Image,
    *,
    hostname: str,
    sandbox_root: Path,
    rootfs: Path,
    writable: bool,
    volumes: tuple[Volume, ...],
    cgroup: str,
    init: str,
    settings: ContainerSettings,
) -> dict[str, Any]:
    """The container's OCI runtime config, from the image's and the job's Docker parameters."""
    config = image.runtime_config()
    process: dict[str, Any] = dict(config["process"])  # type: ignore[call-overload]
    process.update(terminal=False, args=[INIT_MOUNT, "-P"], cwd="/")
    # Every process entered with `runc exec` starts from this environment.
    pairs = (line.partition("=") for line in process.get("env", []))
    environment = {name: value for name, _, value in pairs}
    environment.update(settings.environment)
    process["env"] = [f"{name}={value}" for name, value in environment.items()]
    linux: dict[str, Any] = dict(config["linux"])  # type: ignore[call-overload]
    linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "network"]
    linux["cgroupsPath"] = cgroup
    mounts: list[Any] = list(config["mounts"])  # type: ignore[call-overload]
    mounts += [
        _bind(str(sandbox_root), SANDBOX_MOUNT, read_only=False),
        _bind(init, INIT_MOUNT, read_only=True),
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "mode=1777"]},
    ]  # fmt: skip
    mounts += [_bind(v.host_path, v.container_path, v.mode == "RO")
               for v in (*volumes, *settings.volumes)]  # fmt: skip
    annotations: dict[str, Any] = dict(config.get("annotations") or {})  # type: ignore[call-overload]
    annotations.update(settings.labels)
    return {
        **config,
        "annotations": annotations,
        "process": process,
        "root": {"path": str(rootfs), "readonly": not writable},
        "hostname": hostname,
        "mounts": mounts,
        "linux": linux,
    }


def _bind(source: str, destination: str, read_only: bool) -> dict[str, Any]:
    return {"destination": destination, "type": "bind", "source": source,
            "options": ["rbind", "ro" if read_only else "rw"]}  # fmt: skip


def start(launch: ContainerLaunch, bundle: Path) -> None:
    """Create and start the container (detached: it outlives the agent)."""
    _runc(launch, "run", "--detach", "--bundle", str(bundle), "--pid-file",
          str(bundle / "init.pid"), launch.container_id)  # fmt: skip


def exec_words(
    launch: ContainerLaunch,
    *,
    cwd: str,
    environment: Mapping[str, str],
    user: tuple[int, int] | None,
    command: str,
) -> list[str]:
    """The command that runs `command` with `/bin/sh -c` in the container (for a waiter)."""
    words = [launch.runc, "--root", launch.runtime_root, "exec", "--cwd", cwd]
    if user is not None:
        words += ["--user", f"{user[0]}:{user[1]}"]
    for name, value in environment.items():
        words += ["--env", f"{name}={value}"]
    return [*words, launch.container_id, "/bin/sh", "-c", command]


# What a process inside gets from the image rather than from the agent's machine.
_IMAGE_OWNS = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "DAYBREAK_BASH"}
)


def inside_environment(environment: Mapping[str, str], task_root: Path) -> dict[str, str]:
    """The task's environment as seen inside: its paths under the sandbox's mount point."""
    root = str(task_root)
    return {
        name: value.replace(root, SANDBOX_MOUNT) if value.startswith(root) else value
        for name, value in environment.items()
        if name not in _IMAGE_OWNS
    }


def delete(launch: ContainerLaunch) -> None:
    """Stop the container and forget it (whatever still runs in it is killed)."""
    with contextlib.suppress(ContainerError):
        _runc(launch, "delete", "--force", launch.container_id)
    if launch.rootfs:
        try:
            unmount(Path(launch.rootfs))
        except RootfsError as error:
            log.warning("task=%s event=rootfs_left_mounted error=%s", launch.container_id, error)


def init_pid(paths: TaskPaths) -> int | None:
    """The container's first process (which only waits): not one of the task's own."""
    try:
        return int((paths.root / BUNDLE_DIR / "init.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _runc(launch: ContainerLaunch, *args: str) -> None:
    status, _, errors = run_tool([launch.runc, "--root", launch.runtime_root, *args])
    if status != 0:
        raise ContainerError(f"runc {args[0]}: {' '.join(errors.split())[-300:]}")


def prepare(
    runtime: Runtime | None,
    images: ImageStore,
    paths: TaskPaths,
    task: TaskInstance,
    *,
    cgroup: str,
    progress: Callable[[str], None],
) -> ContainerLaunch:
    """Pull the task's image if need be and start its container (blocking: off the loop).
    Raises ImageError or ContainerError."""
    if runtime is None:
        raise ContainerError(f"this agent cannot run tasks in images: it needs {', '.join(TOOLS)}")
    reference = image_reference(task.container)
    assert reference is not None
    image = images.ensure(reference, progress)
    if not exists_inside(image.rootfs, "/bin/sh"):
        raise ContainerError(
            f"{reference} has no /bin/sh: each process's command line runs with the image's "
            f"shell, as Thermos ran it with bash"
        )
    bundle = paths.root / BUNDLE_DIR
    bundle.mkdir(parents=True, exist_ok=True)
    writable = runtime.writable_root
    rootfs = bundle / MERGED if writable else image.rootfs
    launch = ContainerLaunch(
        container_id=task.task_id, image=reference, digest=image.digest,
        runc=runtime.runc, runtime_root=str(runtime.state_dir),
        rootfs=str(rootfs) if writable else "",
    )  # fmt: skip
    spec = task.container
    settings = ContainerSettings()
    if isinstance(spec, DockerContainer):
        # Validated when the job was created: what read_parameters honours is all there is.
        settings, _ = read_parameters(spec.parameters)
    config = bundle_config(
        image,
        hostname=task.hostname,
        sandbox_root=paths.root,
        rootfs=rootfs,
        writable=writable,
        volumes=spec.volumes if isinstance(spec, MesosContainer) else (),
        cgroup=cgroup,
        init=runtime.catatonit,
        settings=settings,
    )
    (bundle / "config.json").write_text(json.dumps(config))
    try:
        if writable:
            mount_writable(image.rootfs, bundle)
        start(launch, bundle)
    except (RootfsError, ContainerError) as error:
        delete(launch)  # what was made of it, its root unmounted
        raise ContainerError(str(error)) from error
    return launch
