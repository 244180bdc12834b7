"""`{{docker.image[NAME][TAG]}}`, as Aurora's client bound it: the image pinned to the digest its
tag names now in the cluster's registry (`docker_registry` in the cluster's `clusters.json`
entry, Docker Hub where it names none), so that a job runs exactly what was there when it was
created or updated, however the tag moves later. Asked with the Docker Registry HTTP API v2,
which OCI registries speak; a registry that hands out tokens (Docker Hub, most public ones)
gives one to anyone who asks to read, as Aurora's client asked."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx

from daybreak.client.clusters import find_cluster
from daybreak.config import load_job, parse_bindings
from daybreak.errors import InvalidParameterError, NetworkError
from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.tls import public_and_cluster_context

DOCKER_HUB = "https://registry-1.docker.io"
# How a digest from Docker Hub is named, whatever registry the agents take bare names from.
DOCKER_HUB_NAME = "docker.io"
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
        registry = cluster.docker_registry or DOCKER_HUB
        base = (registry if "://" in registry else f"https://{registry}").rstrip("/")
        url = f"{base}/v2/{name}/manifests/{tag}"
        headers = {"Accept": ", ".join(MANIFEST_TYPES)}
        try:
            verify = public_and_cluster_context(cluster.ca_file)
            with httpx.Client(verify=verify, timeout=30) as http:
                response = http.head(url, headers=headers)
                if response.status_code == 401:
                    token = _read_token(http, response, f"{name}:{tag}", registry)
                    response = http.head(url, headers={**headers, "Authorization": token})
        except httpx.HTTPError as error:
            raise NetworkError(f"cannot ask {registry} for {name}:{tag}: {error}") from error
        digest = response.headers.get("Docker-Content-Digest")
        if response.status_code == 404:
            raise InvalidParameterError(f"no image {name}:{tag} in {registry}")
        if response.status_code == 401:
            raise InvalidParameterError(
                f"{registry} lets no one read {name}:{tag} without credentials (a private "
                f"repository, or none of that name); the binding helper asks as anyone, as "
                f"Aurora's did"
            )
        if response.status_code != 200 or not digest:
            raise InvalidParameterError(
                f"{registry} did not say the digest of {name}:{tag} (HTTP {response.status_code})"
            )
        host = DOCKER_HUB_NAME if base == DOCKER_HUB else base.split("://", 1)[1]
        return f"{host}/{name}@{digest}"

    return pin


def _read_token(http: httpx.Client, refused: httpx.Response, image: str, registry: str) -> str:
    """The Authorization a registry's challenge asks for: a bearer token its realm gives to
    anyone reading (the distribution token protocol)."""
    challenge = refused.headers.get("WWW-Authenticate", "")
    scheme, _, parameters = challenge.partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidParameterError(
            f"{registry} wants credentials ({scheme or 'no challenge'}) to read {image}; the "
            f"binding helper asks as anyone, as Aurora's did"
        )
    fields = dict(_challenge_fields(parameters))
    realm = fields.pop("realm", None)
    if not realm:
        raise InvalidParameterError(
            f"{registry} asked for a token without saying where: {challenge}"
        )
    fields.pop("error", None)
    answer = http.get(realm, params=fields)
    if answer.status_code != 200:
        raise InvalidParameterError(
            f"{realm} gave no token to read {image} (HTTP {answer.status_code})"
        )
    try:
        body = answer.json()
    except ValueError:
        body = None
    token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
    if not isinstance(token, str):
        raise InvalidParameterError(f"{realm} answered without a token: {answer.text[:200]}")
    return f"Bearer {token}"


def _challenge_fields(parameters: str) -> list[tuple[str, str]]:
    """`realm="https://auth",service="reg",scope="repository:a/b:pull,push"`: the quoted
    values may hold commas."""
    fields: list[tuple[str, str]] = []
    rest = parameters.strip()
    while rest:
        key, equals, rest = rest.partition("=")
        if not equals:
            break
        if rest.startswith('"'):
            value, _, rest = rest[1:].partition('"')
        else:
            value, _, rest = rest.partition(",")
        fields.append((key.strip(), value))
        rest = rest.lstrip().removeprefix(",").lstrip()
    return fields


def load_pinned(
    config_file: str, key: JobKey, bindings: Sequence[str], *, read_json: bool
) -> JobSpec:
    """Job `key` of CONFIG_FILE with its `{{docker.image[..][..]}}` pinned (job create, update
    start, cron schedule, diff)."""
    return load_job(config_file, key, parse_bindings(bindings), read_json=read_json,
                    images=image_pinner(key.cluster))  # fmt: skip
