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
        return TokenFileAuth(cluster)
    return _from_netrc(cluster)


class TokenFileAuth(httpx.Auth):
    """The token in the cluster's token file, read at each request: a task's credential is
    replaced while the task runs (and a command may wait longer than one lasts)."""

    def __init__(self, cluster: ClusterEntry) -> None:
        assert cluster.token_file is not None
        self.cluster, self.path = cluster, cluster.token_file
        self.token()  # a file that cannot be read is said before anything is sent

    def token(self) -> str:
        try:
            return self.path.read_text().strip()
        except OSError as error:
            raise AuthError(
                f"cannot read the token_file of cluster {self.cluster.name} "
                f"({self.cluster.source}): {error}"
            ) from error

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        yield request


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
