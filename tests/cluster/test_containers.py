"""Tasks in their image (issue 17), end to end: images built here, pushed to a real registry,
pulled by the agent with skopeo, unpacked with umoci and run with runc."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from msgspec.structs import replace

from daybreak.model.jobkey import parse_job_key
from daybreak.model.jobspec import (
    DockerContainer,
    DockerImage,
    DockerParameter,
    HealthCheck,
    Logger,
    MesosContainer,
    ShellHealthChecker,
    UpdateSettings,
    Volume,
)
from daybreak.model.task_state import TaskState
from daybreak.model.update import UpdateStatus
from tests.agent.conftest import wait_for_file
from tests.cluster.conftest import (
    CLUSTER,
    LocalCluster,
    register_for_cli,
    running_cluster,
    wait_for,
)
from tests.cluster.test_updates import start_update, wait_for_update
from tests.conftest import run_cli
from tests.images import build_image, push, registry

OS_RELEASE = 'NAME="Daybreak test image"\nID=daybreak-test\nVERSION_ID=1\n'


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`HOST:PORT/web` in a registry of the module's own: tags 1 and 2 (their os-release says
    which), 3, which has none, and distroless, which has no shell."""
    directory = tmp_path_factory.mktemp("registry")
    with registry(directory / "registry") as address:
        layout = build_image(directory / "web-1", {"/etc/os-release": OS_RELEASE},
                             env={"GREETING": "hello"})  # fmt: skip
        push(layout, address, "web:1")
        second = OS_RELEASE.replace("VERSION_ID=1", "VERSION_ID=2")
        push(build_image(directory / "web-2", {"/etc/os-release": second}), address, "web:2")
        push(build_image(directory / "web-3", {"/etc/motd": "no os-release\n"}), address, "web:3")
        shell_less = build_image(directory / "web-4", {"/app": "#!/app\n"}, busybox=False)
        push(shell_less, address, "web:distroless")
        yield f"{address}/web"


@pytest.fixture
def boxed(image: str, tmp_path: Path) -> Iterator[LocalCluster]:
    registry_address = image.split("/", 1)[0]
    with running_cluster(
        "sqlite", tmp_path, agents=1, agent_args=("--insecure-registry", registry_address)
    ) as local:
        yield local


def service_in_image(
    directory: Path, role: str, name: str, image: str, cmdline: str = "sleep 600"
) -> Path:
    """A config of one Service instance running `cmdline` in `image`."""
    config = directory / f"{name}.aurora"
    config.write_text(f"""
jobs = [Service(cluster = '{CLUSTER}', role = '{role}', environment = 'devel',
                name = '{name}', instances = 1,
                task = Task(name = 'main', processes = [Process(name = 'main', cmdline = '{cmdline}')],
                            resources = Resources(cpu = 0.1, ram = 32*MB, disk = 32*MB)),
                container = Docker(image = '{image}'))]
""")
    return config


def shell_check(command: str) -> HealthCheck:
    return HealthCheck(checker=ShellHealthChecker(shell_command=command),
                       initial_interval_secs=0.2, interval_secs=0.2)  # fmt: skip


def runc_state(local: LocalCluster, task_id: str) -> dict[str, Any] | None:
    """The container as runc knows it (None: there is none)."""
    root = local.agents[0].work_dir / "containers"
    done = subprocess.run(["runc", "--root", str(root), "state", task_id], capture_output=True,
                          text=True, check=False)  # fmt: skip
    return json.loads(done.stdout) if done.returncode == 0 else None


def runc_status(local: LocalCluster, task_id: str) -> str | None:
    state = runc_state(local, task_id)
    return None if state is None else str(state["status"])


@pytest.fixture
def host_data(tmp_path: Path) -> Path:
    """A directory of the machine's, for a volume: it holds `note`."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "note").write_text("from the host\n")
    return data


def test_a_task_runs_in_its_image_and_outlives_an_agent_restart(
    boxed: LocalCluster, image: str, host_data: Path
) -> None:
    data = host_data
    container = MesosContainer(
        image=DockerImage(name=image, tag="1"),
        volumes=(Volume(container_path="/data", host_path=str(data), mode="RO"),),
    )
    script = (
        "cat /etc/os-release > os; ps -o pid,args > ps; echo $GREETING $MESOS_SANDBOX > env;"
        " cat /data/note > note; touch /data/x 2> ro || true; echo done >> ro;"
        " echo $DAYBREAK_INSTANCE > /etc/made; echo > written;"
        " echo said in the image; exec sleep 600"
    )
    spec = boxed.job(name="boxed", instances=2, cmdline=script, container=container)
    main = replace(spec.task.processes[0], logger=Logger(destination="both"))
    spec = replace(spec, task=replace(spec.task, processes=(main,)))
    created = boxed.create(spec)
    assert created.status_code == 201, created.text
    running = boxed.wait_for_states(spec.key, TaskState.RUNNING, 2).active
    agent = boxed.agents[0]
    for task in running:
        sandbox = agent.task_dir(task.task_id) / "sandbox"
        wait_for_file(sandbox / "written")  # the files before it are whole
        assert (sandbox / "ro").read_text().endswith("done\n")
        assert (sandbox / "os").read_text() == OS_RELEASE  # the image's, not the host's
        # Its own PID namespace: the container's init, the shell, ps; none of the host's.
        processes = (sandbox / "ps").read_text().splitlines()[1:]
        assert processes[0].split(None, 1) == ["1", "/dev/.daybreak-init -P"], processes
        assert len(processes) <= 4, processes
        assert (sandbox / "env").read_text() == "hello /mnt/mesos/sandbox\n"
        assert (sandbox / "note").read_text() == "from the host\n"
        assert "Read-only file system" in (sandbox / "ro").read_text()
        assert runc_status(boxed, task.task_id) == "running"
        # A "both" logger: the run's log and the task's console copy.
        assert wait_for_file(agent.task_dir(task.task_id) / "stdout") == "said in the image\n"
        run_log = agent.task_dir(task.task_id) / ".logs" / "main" / "0" / "stdout"
        assert wait_for_file(run_log) == "said in the image\n"
    assert not (data / "x").exists()
    # Both tasks run from one unpacked copy of the image, each with a writable layer of its
    # own: what one writes (and the volume's mount point) is not in the image.
    unpacked = [p for p in (agent.work_dir / "images" / "unpacked").iterdir()
                if not p.name.startswith(".")]  # fmt: skip
    assert len(unpacked) == 1
    for task in running:
        layer = agent.task_dir(task.task_id) / "container" / "upper"
        assert (layer / "etc" / "made").read_text() == f"{task.instance}\n"
    assert not (unpacked[0] / "rootfs" / "etc" / "made").exists()
    assert not (unpacked[0] / "rootfs" / "data").exists()

    # The agent killed and restarted: the containers ran on, and are its again.
    agent.kill9()
    agent.start()
    boxed.wait_until_online(agent)
    after = boxed.wait_for_states(spec.key, TaskState.RUNNING, 2).active
    assert {t.task_id for t in after} == {t.task_id for t in running}
    assert all(runc_status(boxed, task.task_id) == "running" for task in running)

    killed = boxed.api.post(f"/jobs/{spec.key}/kill", json={})
    assert killed.status_code == 200, killed.text
    boxed.wait_for_states(spec.key, TaskState.KILLED, 2)
    ids = [task.task_id for task in running]
    wait_for(lambda: all(runc_status(boxed, task_id) is None for task_id in ids),
             "the containers removed")  # fmt: skip


def test_a_missing_image_fails_the_task_with_a_clear_message(
    boxed: LocalCluster, image: str
) -> None:
    """...and it is retried as any failed task: here once, as `max_task_failures = 2` allows."""
    spec = boxed.job(name="missing", instances=1, cmdline="true", max_task_failures=2,
                     container=DockerContainer(image=f"{image}:no-such-tag"))  # fmt: skip
    created = boxed.create(spec)
    assert created.status_code == 201, created.text
    status = boxed.wait_for_states(spec.key, TaskState.FAILED, 2)
    failures = [t for t in status.finished if t.state is TaskState.FAILED]
    assert len(failures) == 2 and not status.active, status
    for failed in failures:
        messages = [event.message or "" for event in failed.events]
        assert any(f"cannot pull {image}:no-such-tag: image not found" in m for m in messages), (
            messages
        )
        assert any(m == f"pulling {image}:no-such-tag" for m in messages), messages


def test_an_image_without_a_shell_fails_its_task_saying_so(boxed: LocalCluster, image: str) -> None:
    spec = boxed.job(name="shell-less", instances=1, cmdline="/app",
                     container=DockerContainer(image=f"{image}:distroless"))  # fmt: skip
    assert boxed.create(spec).status_code == 201
    status = boxed.wait_for_states(spec.key, TaskState.FAILED, 1)
    messages = [event.message or "" for task in status.finished for event in task.events]
    assert any(
        f"{image}:distroless has no /bin/sh: each process's command line runs with the image's "
        "shell" in message
        for message in messages
    ), messages


def test_the_docker_parameters_with_a_meaning_in_runc_are_honoured(
    boxed: LocalCluster, image: str, host_data: Path
) -> None:
    """`env` over the image's environment, `volume` a bind mount, `label` an annotation."""
    data = host_data
    parameters = tuple(
        DockerParameter(name=name, value=value)
        for name, value in (("env", "GREETING=hi from the job"), ("env", "EXTRA=1"),
                            ("volume", f"{data}:/data:ro"), ("label", "team=web"))
    )  # fmt: skip
    script = (
        "echo $GREETING $EXTRA > env; cat /data/note > note; touch /data/x 2> ro; exec sleep 600"
    )
    spec = boxed.job(name="parameters", instances=1, cmdline=script,
                     container=DockerContainer(image=f"{image}:1", parameters=parameters))  # fmt: skip
    assert boxed.create(spec).status_code == 201
    (task,) = boxed.wait_for_states(spec.key, TaskState.RUNNING, 1).active
    sandbox = boxed.agents[0].task_dir(task.task_id) / "sandbox"
    assert wait_for_file(sandbox / "env") == "hi from the job 1\n"  # the image says hello
    assert wait_for_file(sandbox / "note") == "from the host\n"
    assert "Read-only file system" in wait_for_file(sandbox / "ro")
    state = runc_state(boxed, task.task_id)
    assert state is not None and state["annotations"]["team"] == "web"


def test_what_daybreak_cannot_run_is_refused_at_create(boxed: LocalCluster, image: str) -> None:
    parameters = msgspec.json.decode(b'[{"name": "privileged", "value": "true"}]')
    for container, error in (
        ({"type": "docker", "image": f"{image}:1", "parameters": parameters},
         "Docker parameter 'privileged' is not supported"),
        ({"type": "mesos", "image": {"type": "appc", "name": "web", "image_id": "x"}},
         "Appc images are not supported"),
    ):  # fmt: skip
        body = msgspec.to_builtins(boxed.job(name="refused", instances=1))
        body["container"] = container
        refused = boxed.api.post("/jobs", json=body)
        assert refused.status_code == 400, refused.text
        assert error in refused.text


def test_the_binding_helper_pins_an_image_to_its_digest(
    boxed: LocalCluster, image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`{{docker.image[NAME][TAG]}}` is the tag's digest in the cluster's registry when the job
    is created: a tag moved later changes nothing the job runs."""
    registry_address, name = image.split("/", 1)
    register_for_cli(boxed, tmp_path, monkeypatch, docker_registry=f"http://{registry_address}")
    config = service_in_image(tmp_path, boxed.role, "pinned", f"{{{{docker.image[{name}][1]}}}}")
    key = f"{CLUSTER}/{boxed.role}/devel/pinned"
    created = run_cli(["job", "create", key, str(config)])
    assert created.code == 0, created.err
    digest = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
         f"docker://{image}:1"], capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    status = boxed.wait_for_states(parse_job_key(key), TaskState.RUNNING, 1)
    assert status.spec is not None
    assert status.spec.container == DockerContainer(image=f"{image}@{digest}")
    shown = run_cli(["job", "status", key])
    assert f"\nImage: {image}@{digest}\n" in shown.out, shown.out

    unknown = config.with_name("unknown.aurora")
    unknown.write_text(config.read_text().replace("[1]}}", "[no-such-tag]}}"))
    refused = run_cli(["job", "create", key, str(unknown)])
    assert refused.code != 0
    assert f"no image {name}:no-such-tag in http://{registry_address}" in refused.err


def test_health_checks_task_run_and_task_ssh_are_inside_the_image(
    boxed: LocalCluster, image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shell health check runs in the container: healthy only where the image's file is; so
    do `task run` and `task ssh`."""
    register_for_cli(boxed, tmp_path, monkeypatch)
    check = shell_check("grep -q daybreak-test /etc/os-release")
    spec = boxed.job(name="checked", instances=1, container=DockerContainer(image=f"{image}:1"),
                     health_check=check)  # fmt: skip
    assert boxed.create(spec).status_code == 201
    boxed.wait_for_states(spec.key, TaskState.RUNNING, 1)  # healthy: the check saw the image

    ran = run_cli(["task", "run", str(spec.key), "cat /etc/os-release; pwd"])
    assert ran.code == 0, ran.err
    assert '[0]: NAME="Daybreak test image"' in ran.out
    assert ran.out.rstrip().endswith("[0]: /mnt/mesos/sandbox/sandbox")
    shell = subprocess.run(
        [sys.executable, "-m", "daybreak", "task", "ssh", f"{spec.key}/0", "-c",
         "echo $GREETING; exit 4"], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (shell.returncode, shell.stdout) == (4, "hello\n"), shell.stderr

    # A check that only the host would pass (its /etc/os-release is Debian's) fails inside.
    host_only = shell_check("grep -q debian /etc/os-release")
    sick = boxed.job(name="sick", instances=1, container=DockerContainer(image=f"{image}:1"),
                     health_check=host_only)  # fmt: skip
    assert boxed.create(sick).status_code == 201
    status = boxed.wait_for_states(sick.key, TaskState.FAILED, 1)
    messages = [e.message or "" for t in status.finished for e in t.events]
    assert any("Failed health check!" in m for m in messages), messages


def test_a_rolling_update_between_tags_and_its_rollback(boxed: LocalCluster, image: str) -> None:
    check = shell_check("test -f /etc/os-release")
    spec = boxed.job(
        name="rolling", instances=2, service=True, health_check=check,
        cmdline="cat /etc/os-release > os 2>&1; exec sleep 600",
        update=UpdateSettings(batch_size=1, watch_secs=1),
        container=DockerContainer(image=f"{image}:1"),
    )  # fmt: skip
    assert boxed.create(spec).status_code == 201
    boxed.wait_for_states(spec.key, TaskState.RUNNING, 2)

    def versions() -> set[str]:
        agent = boxed.agents[0]
        found = set()
        for task in boxed.status(spec.key).active:
            text = wait_for_file(agent.task_dir(task.task_id) / "sandbox" / "os")
            found.add(text.split("VERSION_ID=")[1].strip())
        return found

    assert versions() == {"1"}
    to_two = msgspec.structs.replace(spec, container=DockerContainer(image=f"{image}:2"))
    forward = wait_for_update(boxed, start_update(boxed, to_two), UpdateStatus.ROLLED_FORWARD)
    assert forward.status is UpdateStatus.ROLLED_FORWARD
    boxed.wait_for_states(spec.key, TaskState.RUNNING, 2)
    assert versions() == {"2"}

    # Tag 3 has no os-release: its health check fails, and the update goes back to tag 2.
    to_three = msgspec.structs.replace(spec, container=DockerContainer(image=f"{image}:3"))
    back = wait_for_update(boxed, start_update(boxed, to_three), UpdateStatus.ROLLED_BACK)
    assert back.status is UpdateStatus.ROLLED_BACK
    boxed.wait_for_states(spec.key, TaskState.RUNNING, 2)
    wait_for(lambda: versions() == {"2"}, "every instance back on tag 2")
    assert boxed.status(spec.key).spec == to_two


def test_an_image_no_task_runs_from_is_collected(image: str, tmp_path: Path) -> None:
    registry_address = image.split("/", 1)[0]
    with running_cluster(
        "sqlite", tmp_path, agents=1,
        agent_args=("--insecure-registry", registry_address, "--image-max-age", "1s",
                    "--gc-interval", "200ms"),
    ) as local:  # fmt: skip
        images = local.agents[0].work_dir / "images"

        def unpacked() -> list[str]:
            return [p.name for p in (images / "unpacked").glob("sha256:*")]

        def blobs() -> int:
            return len(list((images / "oci" / "blobs" / "sha256").iterdir()))

        spec = local.job(name="held", instances=1, container=DockerContainer(image=f"{image}:2"))
        assert local.create(spec).status_code == 201
        local.wait_for_states(spec.key, TaskState.RUNNING, 1)
        held = unpacked()
        assert len(held) == 1 and blobs() > 0
        time.sleep(2)  # past its age, but a task runs from it
        assert unpacked() == held
        assert local.api.post(f"/jobs/{spec.key}/kill", json={}).status_code == 200
        local.wait_for_states(spec.key, TaskState.KILLED, 1)
        wait_for(lambda: not unpacked() and blobs() == 0, "the image and its blobs collected")


def test_the_cli_stops_waiting_for_running_when_the_job_crash_loops(
    boxed: LocalCluster, image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`job create --wait-until RUNNING` of a job whose image is missing says why and returns,
    instead of waiting for ever."""
    register_for_cli(boxed, tmp_path, monkeypatch)
    config = service_in_image(tmp_path, boxed.role, "missing", f"{image}:no-such-tag", "true")
    key = f"{CLUSTER}/{boxed.role}/devel/missing"
    waited = run_cli(["job", "create", key, str(config), "--wait-until", "RUNNING"])
    assert waited.code != 0
    assert f"{key} is crash-looping: " in waited.err, waited.err
    assert "image not found" in waited.err and "Not waiting for it to be RUNNING" in waited.err
