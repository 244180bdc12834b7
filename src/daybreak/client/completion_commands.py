"""Shell completion: `daybreak completion bash|zsh|fish` prints the script to source; job keys
complete from the clusters file and, past the cluster, from the scheduler's live job list."""

from __future__ import annotations

import click
from click.shell_completion import CompletionItem, get_completion_class

from daybreak.client.clusters import all_clusters, find_cluster
from daybreak.errors import DaybreakError

SHELLS = ("bash", "zsh", "fish")


def complete_job_key(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """`dev` -> `devcluster/`; `devcluster/w` -> the cluster's job keys starting so."""
    try:
        if "/" not in incomplete:
            names = [c.name for c in all_clusters() if c.name.startswith(incomplete)]
            return [CompletionItem(f"{name}/", type="plain") for name in names]
        from daybreak.client.api_client import ApiClient
        from daybreak.model.api import JobList

        client = ApiClient(find_cluster(incomplete.split("/", 1)[0]), timeout_s=2)
        try:
            jobs = client.call("GET", "/jobs", JobList).jobs
        finally:
            client.close()
    except DaybreakError:
        return []  # completion must never print an error into the user's command line
    return [CompletionItem(str(j.key)) for j in jobs if str(j.key).startswith(incomplete)]


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS), default="bash")
@click.pass_context
def completion_command(context: click.Context, shell: str) -> None:
    """Print the completion script for SHELL; e.g. in ~/.bashrc:
    eval "$(daybreak completion bash)"."""
    completer = get_completion_class(shell)
    assert completer is not None  # SHELLS are the ones click completes
    root = context.find_root().command
    script = completer(root, {}, "daybreak", "_DAYBREAK_COMPLETE").source()
    click.echo(script)
