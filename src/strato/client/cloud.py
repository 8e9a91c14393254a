"""`connect()`: one cloud as one user, with its object store and image service."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote

from strato.client.auth import Token
from strato.client.config import CloudConfig, load_cloud
from strato.client.errors import ClientError
from strato.client.images import Images
from strato.client.objects import ObjectStore, object_path
from strato.client.session import Session
from strato.client.signing import FormPost, form_post, temp_url
from strato.client.transfers import (
    DownloadResult,
    Progress,
    TransferOptions,
    UploadResult,
    download_object,
    upload_file,
)
from strato.client.transport import RetryPolicy, Transport

USER_AGENT = "strato-client"


class Cloud:
    """Use as `async with connect(...) as cloud:`; it closes its connections on exit."""

    def __init__(self, session: Session, config: CloudConfig | None = None) -> None:
        self.session = session
        self.config = config
        self.objects = ObjectStore(session)
        self.images = Images(session)

    async def __aenter__(self) -> Cloud:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        await self.session.close()

    async def token(self) -> Token:
        """Log in (or reuse the token): the cheapest check that the credentials work."""
        return await self.session.token()

    async def upload(self, container: str, name: str, path: str | Path, *,
                     options: TransferOptions | None = None, progress: Progress | None = None,
                     headers: dict[str, str] | None = None) -> UploadResult:
        return await upload_file(self.objects, container, name, path, options=options,
                                 progress=progress, headers=headers)

    async def download(self, container: str, name: str, path: str | Path, *,
                       options: TransferOptions | None = None,
                       progress: Progress | None = None) -> DownloadResult:
        return await download_object(self.objects, container, name, path, options=options,
                                     progress=progress)

    async def _temp_url_key(self, container: str) -> str:
        headers = await self.objects.container(container)
        for name in ("X-Container-Meta-Temp-Url-Key", "X-Container-Meta-Temp-Url-Key-2"):
            if headers.get(name):
                return headers[name]
        account = await self.objects.account()
        for name in ("X-Account-Meta-Temp-Url-Key", "X-Account-Meta-Temp-Url-Key-2"):
            if account.get(name):
                return account[name]
        raise ClientError("no temp URL key on the container or the account: set one with "
                          "`strato post -m Temp-URL-Key:<secret>`")

    async def temp_url_key(self, container: str) -> str:
        """The key temp URLs for `container` are signed with: its own, else the account's."""
        return await self._temp_url_key(container)

    async def temp_url(self, container: str, name: str = "", *, method: str = "GET",
                       seconds: int = 3600, key: str | None = None, **options: Any) -> str:
        """A temp URL for an object (or, with `prefix=True`, every object under `name`),
        signed with `key` or the container's or account's temp URL key."""
        secret = key or await self._temp_url_key(container)
        url = await self.objects.storage_url() + object_path(container, name or "")
        if not name:
            url += "/"
        return temp_url(unquote(url), secret, method=method, seconds=seconds, **options)

    async def form_post(self, container: str, prefix: str = "", *, key: str | None = None,
                        **options: Any) -> FormPost:
        secret = key or await self._temp_url_key(container)
        url = await self.objects.storage_url() + object_path(container, prefix or None)
        return form_post(url, secret, **options)


def connect(cloud: str | None = None, *, config: CloudConfig | None = None,
            connections: int = 64, retry: RetryPolicy | None = None,
            **arguments: Any) -> Cloud:
    """A `Cloud` for a clouds.yaml entry, the `OS_*`/`ST_*` variables, or `arguments`
    spelled as clouds.yaml spells them (auth_url, username, password, project_name, ...)."""
    config = config or load_cloud(cloud, **arguments)
    transport = Transport(connections=connections, verify=config.verify,
                          retry=retry or RetryPolicy(), user_agent=USER_AGENT)
    session = Session(config.make_auth(), transport, region=config.region_name,
                      interface=config.interface,
                      endpoint_overrides=dict(config.endpoint_overrides))
    return Cloud(session, config)
