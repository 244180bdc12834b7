"""The clusters file, in Aurora's format: a JSON list of clusters, each with a name and where
its scheduler listens (`scheduler_uri`, as Aurora wrote it, or `scheduler_url`; a list of them
for a cluster with standby schedulers), and optionally a `token_file` holding the user's bearer
token for it, a `ca_file`, and the `docker_registry` that `{{docker.image[NAME][TAG]}}` is
looked up in.

Looked for in `$DAYBREAK_CONFIG_ROOT`, then `~/.daybreak`, then `/etc/daybreak`; the first
file that names the cluster wins. Inside a task, its own cluster comes from the environment its
agent gave it (`DAYBREAK_CLUSTER`, `DAYBREAK_API`, `DAYBREAK_TOKEN_FILE`, `DAYBREAK_CA_FILE`:
`daybreak.agent.identity`), before any file: the task calls as itself, with its credential.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from daybreak.errors import InvalidParameterError

FILE_NAME = "clusters.json"


@dataclass(frozen=True)
class ClusterEntry:
    name: str
    scheduler_urls: tuple[str, ...]  # every scheduler; any of them leads to the leader
    source: Path
    token_file: Path | None = None
    # The CA an https:// scheduler is verified against; None: the system's CAs.
    ca_file: Path | None = None
    # Where `{{docker.image[NAME][TAG]}}` is looked up (Aurora's key), e.g. https://reg:5000.
    docker_registry: str | None = None

    @property
    def scheduler_url(self) -> str:
        """The first scheduler named: where links for people point."""
        return self.scheduler_urls[0]


def search_path() -> list[Path]:
    roots = []
    if "DAYBREAK_CONFIG_ROOT" in os.environ:
        roots.append(Path(os.environ["DAYBREAK_CONFIG_ROOT"]))
    roots += [Path.home() / ".daybreak", Path("/etc/daybreak")]
    return [root / FILE_NAME for root in roots]


def read_clusters(path: Path) -> list[ClusterEntry]:
    try:
        entries = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as error:
        raise InvalidParameterError(f"{path}: not a clusters file: {error}") from error
    if not isinstance(entries, list):
        raise InvalidParameterError(f"{path}: must hold a JSON list of clusters")
    clusters = []
    for index, entry in enumerate(entries):
        urls = isinstance(entry, dict) and (
            entry.get("scheduler_url") or entry.get("scheduler_uri")
        )
        if isinstance(urls, str):
            urls = [urls]
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or not isinstance(urls, list)
            or not urls
            or not all(isinstance(url, str) and url for url in urls)
        ):
            raise InvalidParameterError(
                f'{path}: cluster #{index} needs a "name" and a "scheduler_uri" (an address, '
                "or a list of them)"
            )
        token_file, ca_file = entry.get("token_file"), entry.get("ca_file")
        clusters.append(
            ClusterEntry(
                entry["name"],
                tuple((url if "://" in url else f"http://{url}").rstrip("/") for url in urls),
                path,
                None if token_file is None else path.parent / Path(token_file).expanduser(),
                None if ca_file is None else path.parent / Path(ca_file).expanduser(),
                entry.get("docker_registry") or None,
            )
        )
    return clusters


def all_clusters() -> list[ClusterEntry]:
    seen: dict[str, ClusterEntry] = {}
    for path in search_path():
        for entry in read_clusters(path):
            seen.setdefault(entry.name, entry)
    return list(seen.values())


def from_task_environment(name: str) -> ClusterEntry | None:
    """The cluster of the task this runs in, if it is `name`."""
    environment = os.environ
    urls = [url for url in environment.get("DAYBREAK_API", "").split(",") if url]
    if environment.get("DAYBREAK_CLUSTER") != name or not urls:
        return None
    token_file, ca_file = (
        environment.get("DAYBREAK_TOKEN_FILE"),
        environment.get("DAYBREAK_CA_FILE"),
    )
    return ClusterEntry(
        name,
        tuple(url.rstrip("/") for url in urls),
        Path("$DAYBREAK_API"),
        None if not token_file else Path(token_file),
        None if not ca_file else Path(ca_file),
    )


def find_cluster(name: str) -> ClusterEntry:
    inside = from_task_environment(name)
    if inside is not None:
        return inside
    clusters = all_clusters()
    for entry in clusters:
        if entry.name == name:
            return entry
    known = ", ".join(sorted(c.name for c in clusters)) or "none"
    where = ", ".join(str(p) for p in search_path())
    raise InvalidParameterError(
        f"unknown cluster {name!r}; known clusters: {known} (from {where}). "
        "`daybreak up` registers a local one named devcluster."
    )


def register_cluster(
    name: str, urls: list[str], path: Path, docker_registry: str | None = None
) -> None:
    """Add or replace one cluster in the clusters file at `path`: Aurora's single address, or
    a list when the cluster has standby schedulers; and its registry, if it has one."""
    entries: list[dict[str, object]] = []
    if path.exists():
        entries = [e for e in json.loads(path.read_text()) if e.get("name") != name]
    entry: dict[str, object] = {"name": name, "scheduler_uri": urls[0] if len(urls) == 1 else urls}
    if docker_registry is not None:
        entry["docker_registry"] = docker_registry
    entries.append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, indent=2) + "\n")
