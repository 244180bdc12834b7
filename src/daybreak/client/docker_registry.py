"""`{{docker.image[NAME][TAG]}}`, as Aurora's client bound it: the image pinned to the digest its
tag names now in the cluster's registry (`docker_registry` in the cluster's `clusters.json`
entry), so that a job runs exactly what was there when it was created or updated, however the
tag moves later. Asked with the Docker Registry HTTP API v2, which OCI registries speak."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx

from daybreak.client.clusters import find_cluster
from daybreak.config import load_job, parse_bindings
from daybreak.errors import InvalidParameterError, NetworkError
from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.tls import client_context

# What a tag may name: an image of one platform or an index of several, Docker's or OCI's.
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


def image_pinner(cluster_name: str) -> Callable[[str, str], str]:
    """What binds `{{docker.image[NAME][TAG]}}` for jobs of the cluster (looked up only when a
    config asks for it)."""

    def pin(name: str, tag: str) -> str:
        cluster = find_cluster(cluster_name)
        registry = cluster.docker_registry
        if not registry:
            raise InvalidParameterError(
                f"{{{{docker.image[{name}][{tag}]}}}} needs the cluster's registry: add "
                f'"docker_registry": "https://HOST:PORT" to the entry of {cluster.name} in '
                f"{cluster.source}"
            )
        base = registry if "://" in registry else f"https://{registry}"
        url = f"{base.rstrip('/')}/v2/{name}/manifests/{tag}"
        try:
            response = httpx.head(url, headers={"Accept": ", ".join(MANIFEST_TYPES)},
                                  verify=client_context(cluster.ca_file), timeout=30)  # fmt: skip
        except httpx.HTTPError as error:
            raise NetworkError(f"cannot ask {registry} for {name}:{tag}: {error}") from error
        digest = response.headers.get("Docker-Content-Digest")
        if response.status_code == 404:
            raise InvalidParameterError(f"no image {name}:{tag} in {registry}")
        if response.status_code != 200 or not digest:
            raise InvalidParameterError(
                f"{registry} did not say the digest of {name}:{tag} (HTTP {response.status_code})"
            )
        host = base.split("://", 1)[1].rstrip("/")
        return f"{host}/{name}@{digest}"

    return pin


def load_pinned(
    config_file: str, key: JobKey, bindings: Sequence[str], *, read_json: bool
) -> JobSpec:
    """Job `key` of CONFIG_FILE with its `{{docker.image[..][..]}}` pinned (job create, update
    start, cron schedule, diff)."""
    return load_job(config_file, key, parse_bindings(bindings), read_json=read_json,
                    images=image_pinner(key.cluster))  # fmt: skip
