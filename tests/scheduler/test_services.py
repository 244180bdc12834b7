"""Service discovery in-process: what the endpoints list holds, and the promise that an
instance leaves it before its agent hears that it is to be killed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from daybreak.model import agent_protocol as protocol
from daybreak.model.api import ServiceEndpoints
from daybreak.model.jobspec import Announcer, JobSpec, Process, UpdateSettings
from daybreak.model.task_state import TaskState
from daybreak.model.update import UpdateRequest
from daybreak.scheduler import views
from daybreak.scheduler.service import Scheduler
from tests.scheduler.harness import FakeAgent, InProcess, in_process


@dataclass
class WatchingAgent(FakeAgent):
    """An agent that, the moment it is told to kill a task, looks up the job's endpoints."""

    scheduler: Scheduler | None = None
    spec: JobSpec | None = None
    listed_at_kill: dict[str, list[str]] = field(default_factory=dict)

    def send(self, message: protocol.Message) -> None:
        if isinstance(message, protocol.Kill) and self.scheduler and self.spec:
            listed = views.service_endpoints(self.scheduler.view, self.spec.key)
            self.listed_at_kill[message.task_id] = [m.task_id for m in listed.instances]
        super().send(message)


def service(harness: InProcess, cmdline: str) -> JobSpec:
    spec = harness.job(
        "api", instances=3, service=True, update=UpdateSettings(batch_size=1, watch_secs=1)
    )
    task = msgspec.structs.replace(spec.task, processes=(Process(name="main", cmdline=cmdline),))
    return msgspec.structs.replace(spec, task=task, announce=Announcer(), ports=("http",))


async def endpoints(harness: InProcess, spec: JobSpec) -> ServiceEndpoints:
    key = spec.key
    response = await harness.api.get(f"/api/v1/services/{key.role}/{key.environment}/{key.name}")
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=ServiceEndpoints)


def test_running_instances_are_listed_and_leave_before_their_kill_is_sent(tmp_path: Path) -> None:
    async def story() -> None:
        async with in_process(f"sqlite:///{tmp_path / 'state.db'}") as harness:
            agent = WatchingAgent("a1", scheduler=harness.scheduler)
            await harness.connect(agent)
            spec = service(harness, "serve --port {{thermos.ports[http]}}")
            agent.spec = spec
            created = await harness.api.post("/api/v1/jobs", content=msgspec.json.encode(spec))
            assert created.status_code == 201, created.text
            await harness.settle()
            assert (await endpoints(harness, spec)).instances == ()  # launched, not running
            await harness.run_everything()
            listed = await endpoints(harness, spec)
            assert [member.instance for member in listed.instances] == [0, 1, 2]
            first = listed.instances[0]
            assert first.host == "a1" and first.service_endpoint is not None
            assert set(first.additional_endpoints) == {"aurora", "http"}
            assert first.additional_endpoints["aurora"] == first.service_endpoint

            # An update, one instance at a time: each old task is off the list when its kill
            # reaches the agent, and nothing else is missing.
            new = service(harness, "serve --v2 --port {{thermos.ports[http]}}")
            request = UpdateRequest(spec=new)
            started = await harness.api.post(
                f"/api/v1/jobs/{spec.key}/update", content=msgspec.json.encode(request)
            )
            assert started.status_code == 200, started.text
            old = {member.task_id for member in listed.instances}
            for _ in range(60):
                await harness.settle()
                for task_id in agent.kills():
                    if agent.inventory.get(task_id) is not TaskState.KILLED:
                        await harness.report(agent, task_id, TaskState.KILLED)
                await harness.run_everything()
                harness.scheduler.heartbeat(agent.agent_id)
                await harness.advance(1000)
                if (
                    set(agent.listed_at_kill) == old
                    and len((await endpoints(harness, spec)).instances) == 3
                ):
                    break
            assert set(agent.listed_at_kill) == old
            for killed, still_listed in agent.listed_at_kill.items():
                assert killed not in still_listed
                assert len(still_listed) == 2  # the others kept serving meanwhile
            final = await endpoints(harness, spec)
            assert not {member.task_id for member in final.instances} & old

            missing = await harness.api.get("/api/v1/services/www/prod/nothing")
            assert missing.status_code == 404 and "no job test/www/prod/nothing" in missing.text

    asyncio.run(story())
