"""Who the CLI says it is: a bearer token from `$DAYBREAK_TOKEN` or the cluster's `token_file`,
else a user and password for the scheduler's host in `~/.netrc` (as Aurora's client read it),
else nobody (fine where the operator left reads open, or configured no security)."""

from __future__ import annotations

import netrc
import os
from collections.abc import Generator
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from daybreak.client.clusters import ClusterEntry
from daybreak.errors import AuthError


class BearerAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def credentials_for(cluster: ClusterEntry) -> httpx.Auth | None:
    token = os.environ.get("DAYBREAK_TOKEN")
    if token:
        return BearerAuth(token.strip())
    if cluster.token_file is not None:
        try:
            return BearerAuth(cluster.token_file.read_text().strip())
        except OSError as error:
            raise AuthError(
                f"cannot read the token_file of cluster {cluster.name} ({cluster.source}): {error}"
            ) from error
    return _from_netrc(cluster)


def _from_netrc(cluster: ClusterEntry) -> httpx.Auth | None:
    path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    if not path.exists():
        return None
    try:
        entry = netrc.netrc(str(path)).authenticators(
            urlsplit(cluster.scheduler_url).hostname or ""
        )
    except (OSError, netrc.NetrcParseError) as error:
        raise AuthError(f"cannot read {path}: {error}") from error
    if entry is None:
        return None
    login, _, password = entry
    return httpx.BasicAuth(login, password or "")
