"""What a task needs to call the cluster's API on its own (workload identity): its credential,
renewed by the agent, the scheduler's addresses and the CA that verifies them, and the
cluster's name, so that `daybreak job create` inside a task just works.

```
$MESOS_SANDBOX/.daybreak/token    the task's credential (mode 0600, the task's user's)
$MESOS_SANDBOX/.daybreak/ca.pem   the CA an https:// scheduler is verified against
```

The task's environment names them (`DAYBREAK_TOKEN_FILE`, `DAYBREAK_CA_FILE`) with
`DAYBREAK_CLUSTER` and `DAYBREAK_API`, which the CLI reads (`daybreak.client.clusters`).
A credential is replaced whole (written aside, then renamed): a reader never sees half of one.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from daybreak.agent.executor.processes import account_of
from daybreak.agent.paths import TaskPaths
from daybreak.agent.tracked import Tracked
from daybreak.model import agent_protocol as protocol

log = logging.getLogger("daybreak.agent")

IDENTITY_DIR = ".daybreak"


def token_file(paths: TaskPaths) -> Path:
    return paths.root / IDENTITY_DIR / "token"


def ca_copy(paths: TaskPaths) -> Path:
    return paths.root / IDENTITY_DIR / "ca.pem"


def api_url(scheduler_url: str) -> str:
    """The scheduler's API address from what the agent was given (http(s):// or ws(s)://)."""
    url = scheduler_url.rstrip("/").removesuffix(protocol.CONNECT_PATH)
    for socket_scheme, web_scheme in (("ws://", "http://"), ("wss://", "https://")):
        if url.startswith(socket_scheme):
            return web_scheme + url.removeprefix(socket_scheme)
    return url if "://" in url else "http://" + url


def task_environment(
    paths: TaskPaths, cluster: str, scheduler_urls: Sequence[str], ca_file: Path | None
) -> dict[str, str]:
    environment = {
        "DAYBREAK_API": ",".join(api_url(url) for url in scheduler_urls),
        "DAYBREAK_TOKEN_FILE": str(token_file(paths)),
    }
    if cluster:
        environment["DAYBREAK_CLUSTER"] = cluster
    if ca_file is not None:
        environment["DAYBREAK_CA_FILE"] = str(ca_copy(paths))
    return environment


def give_identity(
    paths: TaskPaths, credential: str, user: str | None, ca_file: Path | None
) -> None:
    """Put the task's credential, and the CA, where its environment says (before it starts)."""
    directory = paths.root / IDENTITY_DIR
    directory.mkdir(exist_ok=True)
    if ca_file is not None:
        shutil.copyfile(ca_file, ca_copy(paths))
    if credential:
        write_credential(paths, credential, user)


def renew_credentials(tasks: Mapping[str, Tracked], message: protocol.Credentials) -> None:
    """Replace the credentials of the tasks still running here with fresh ones."""
    for task_id, credential in message.by_task.items():
        tracked = tasks.get(task_id)
        if tracked is None or tracked.supervisor.finished:
            continue  # preparing (its launch's credential is fresh) or ended
        supervisor = tracked.supervisor
        try:
            write_credential(supervisor.paths, credential, supervisor.launch.user)
        except OSError as error:
            log.warning("task=%s event=credential_not_renewed error=%r", task_id, error)


def write_credential(paths: TaskPaths, credential: str, user: str | None) -> None:
    target = token_file(paths)
    aside = target.with_name(".token.new")
    descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        account = account_of(user)
        if account is not None:
            os.fchown(descriptor, account.pw_uid, account.pw_gid)
        os.write(descriptor, credential.encode() + b"\n")
    finally:
        os.close(descriptor)
    aside.replace(target)
