"""`daybreak up` and `daybreak down`: a whole cluster on this machine, for trying Daybreak."""

from __future__ import annotations

import click


@click.command("up")
@click.option("--agents", default=3, show_default=True, help="How many agents to start.")
@click.option("--port", default=8081, show_default=True, help="The scheduler's port.")
@click.option(
    "--data",
    default=".daybreak",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the state, the sandboxes and the logs go; running again resumes it.",
)
@click.option("--detach", is_flag=True, help="Start and return; `daybreak down` stops it.")
@click.option(
    "--schedulers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 9),
    help="Schedulers (one leads, the others stand by), on ports PORT, PORT+1, ...; more than "
    "one needs a PostgreSQL --store.",
)
@click.option("--store", help="postgresql://USER@HOST:PORT/DB [SQLite under --data].")
@click.option(
    "--registry",
    metavar="HOST:PORT",
    help="A local registry (plain HTTP) to pull images from: names without a registry too, and "
    "{{docker.image[NAME][TAG]}} is looked up there.",
)
def up_command(
    *, agents: int, port: int, data: str, detach: bool, schedulers: int, store: str | None,
    registry: str | None,
) -> None:  # fmt: skip
    """Start a local cluster: a scheduler (or several) and N agents on 127.0.0.1, as cluster
    devcluster."""
    from pathlib import Path

    from daybreak.client.clusters import register_cluster, search_path
    from daybreak.devcluster import CLUSTER, DevCluster, greeting, run_foreground, start

    cluster = DevCluster(Path(data), port, agents, schedulers, store, registry)

    def register() -> None:
        docker_registry = None if registry is None else f"http://{registry}"
        register_cluster(CLUSTER, cluster.urls, search_path()[0], docker_registry)

    if detach:
        start(cluster)
        register()
        click.echo(greeting(cluster))
        click.echo(f"Stop it with: daybreak down --data {data}")
        return
    run_foreground(cluster, register)


@click.command("down")
@click.option("--data", default=".daybreak", show_default=True, type=click.Path(file_okay=False))
def down_command(data: str) -> None:
    """Stop a local cluster started with `daybreak up --detach`."""
    from pathlib import Path

    from daybreak.devcluster import DevCluster, down

    stopped = down(DevCluster(Path(data), 0, 0))
    click.echo(f"Stopped {stopped} process(es) of the cluster in {data}.")


COMMANDS = (up_command, down_command)
