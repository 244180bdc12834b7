"""`{{docker.image[NAME][TAG]}}`, as Aurora's client bound it: the image pinned to the digest its
tag names now in the cluster's registry (`docker_registry` in the cluster's `clusters.json`
entry, Docker Hub where it names none), so that a job runs exactly what was there when it was
created or updated, however the tag moves later. Asked with the Docker Registry HTTP API v2,
which OCI registries speak. A registry that hands out tokens (Docker Hub, most public ones) is
asked for one, as Aurora's client asked; with the login `skopeo login` or `docker login` left for
it, if any (`daybreak.client.registry_logins`), which a registry that wants a password is given
too."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx

from daybreak.client.clusters import find_cluster
from daybreak.client.registry_logins import Login, login_for
from daybreak.config import load_job, parse_bindings
from daybreak.errors import InvalidParameterError, NetworkError
from daybreak.model.jobspec import JobKey, JobSpec
from daybreak.tls import public_and_cluster_context

DOCKER_HUB = "https://registry-1.docker.io"
# How a digest from Docker Hub is named, whatever registry the agents take bare names from.
DOCKER_HUB_NAME = "docker.io"
LOGIN_HINT = "log in to it first (`skopeo login`, `podman login` or `docker login`)"
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
        address = base.split("://", 1)[1]
        url = f"{base}/v2/{name}/manifests/{tag}"
        headers = {"Accept": ", ".join(MANIFEST_TYPES)}
        try:
            verify = public_and_cluster_context(cluster.ca_file)
            with httpx.Client(verify=verify, timeout=30) as http:
                response = http.head(url, headers=headers)
                login = None
                if response.status_code == 401:
                    login = login_for(address, docker_hub=base == DOCKER_HUB)
                    authorization = _authorization(http, response, f"{name}:{tag}", registry,
                                                   login)  # fmt: skip
                    response = http.head(url, headers={**headers, "Authorization": authorization})
        except httpx.HTTPError as error:
            raise NetworkError(f"cannot ask {registry} for {name}:{tag}: {error}") from error
        digest = response.headers.get("Docker-Content-Digest")
        if response.status_code == 404:
            raise InvalidParameterError(f"no image {name}:{tag} in {registry}")
        if response.status_code == 401 and login is None:
            raise InvalidParameterError(
                f"{registry} lets no one read {name}:{tag} without credentials (a private "
                f"repository, or none of that name): {LOGIN_HINT}"
            )
        if response.status_code in (401, 403):
            who = "anyone" if login is None else f"{login.user} (logged in by {login.source})"
            raise InvalidParameterError(
                f"{registry} did not let {who} read {name}:{tag} (or there is none of that name)"
            )
        if response.status_code != 200 or not digest:
            raise InvalidParameterError(
                f"{registry} did not say the digest of {name}:{tag} (HTTP {response.status_code})"
            )
        return f"{DOCKER_HUB_NAME if base == DOCKER_HUB else address}/{name}@{digest}"

    return pin


def _authorization(
    http: httpx.Client, refused: httpx.Response, image: str, registry: str, login: Login | None
) -> str:
    """What a registry's challenge asks for: the login itself (Basic), or a bearer token from
    its realm (the distribution token protocol), asked with the login or as anyone."""
    challenge = refused.headers.get("WWW-Authenticate", "")
    scheme, _, parameters = challenge.partition(" ")
    if scheme.lower() == "basic" and login is not None:
        return login.basic()
    if scheme.lower() != "bearer":
        raise InvalidParameterError(
            f"{registry} wants credentials ({scheme or 'no challenge'}) to read {image}: "
            f"{LOGIN_HINT}"
        )
    fields = dict(_challenge_fields(parameters))
    realm = fields.pop("realm", None)
    if not realm:
        raise InvalidParameterError(
            f"{registry} asked for a token without saying where: {challenge}"
        )
    fields.pop("error", None)
    login_headers = {} if login is None else {"Authorization": login.basic()}
    answer = http.get(realm, params=fields, headers=login_headers)
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
