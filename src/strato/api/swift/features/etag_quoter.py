"""Etag quoter (`etag_quoter`): object ETags in the quoted form RFC 7232 asks for.

Some CDNs and HTTP caches need ``Etag: "d41d8cd98f00b204e9800998ecf8427e"`` where Swift
sends a bare MD5. Set ``X-Account-Rfc-Compliant-Etags: true`` on an account (POST) to quote
every object ETag in it, or ``X-Container-Rfc-Compliant-Etags: true`` (PUT or POST) on one
container; ``false`` on a container turns it off there whatever the account says, and an
empty value or ``X-Remove-*-Rfc-Compliant-Etags`` removes the setting. With
``etag_quoter_by_default`` (``--etag-quoter-by-default``) ETags are quoted where neither
says otherwise. Already quoted ETags (SLO, DLO) stay as they are; listings keep bare hashes.

The setting is kept in system metadata and shown back under the client's header name.
Off unless `etag_quoter` (`--etag-quoter`) is set, as Swift's sample pipeline leaves it out:
an object request then also reads its account's row when the container says nothing.
`/info` lists `etag_quoter` with `enable_by_default` while it is on.
"""

from __future__ import annotations

from typing import Any

from strato.api.http import Response
from strato.api.swift.account import ACCOUNT_SYSMETA
from strato.api.swift.container import CONTAINER_SYSMETA
from strato.api.swift.context import SwiftRequest
from strato.api.swift.pipeline import Feature, Handler

TRUE_VALUES = ("true", "1", "yes", "on", "t", "y")


def _sysmeta(kind: str) -> str:
    return f"x-{kind}-sysmeta-rfc-compliant-etags"


class EtagQuoter(Feature):
    name = "etag_quoter"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = self.services.settings
        self.enabled = bool(settings is not None and settings.etag_quoter)
        self.by_default = bool(settings is not None and settings.etag_quoter_by_default)

    def capabilities(self) -> dict[str, Any] | None:
        return {"enable_by_default": self.by_default} if self.enabled else None

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        if not self.enabled:
            return await call_next(sr)
        if sr.obj is None:
            return await self._setting(sr, call_next)
        response = await call_next(sr)
        etag = response.headers.get("Etag")
        if etag is None or (etag.startswith(('"', 'W/"')) and etag.endswith('"')):
            return response
        if await self._quoting(sr):
            response.headers["Etag"] = f'"{etag}"'
        return response

    async def _quoting(self, sr: SwiftRequest) -> bool:
        """The container's setting, else the account's, else the default."""
        assert sr.container is not None
        container = await sr.get_container(sr.account, sr.container)
        flag = container.meta.get(_sysmeta("container")) if container else None
        if flag is None:
            account = await sr.get_account(sr.account)
            flag = account.meta.get(_sysmeta("account")) if account else None
        if flag is None:
            return self.by_default
        return flag.lower() in TRUE_VALUES

    async def _setting(self, sr: SwiftRequest, call_next: Handler) -> Response:
        """Account and container requests: the client header in, and back out."""
        kind = "account" if sr.container is None else "container"
        header = f"x-{kind}-rfc-compliant-etags"
        given: str | None = None
        if header in sr.headers:
            value = sr.headers[header]
            given = str(value.lower() in TRUE_VALUES) if value else ""
        if sr.headers.get(f"x-remove-{kind}-rfc-compliant-etags"):
            given = ""
        if given is not None:
            key = ACCOUNT_SYSMETA if kind == "account" else CONTAINER_SYSMETA
            sr.state.setdefault(key, {})[_sysmeta(kind)] = given
        response = await call_next(sr)
        if sr.request.method in ("GET", "HEAD") and 200 <= response.status < 300:
            if kind == "account":
                record: Any = await sr.services.storage.get_account(sr.account)
            else:
                assert sr.container is not None
                record = await sr.get_container(sr.account, sr.container)
            stored = record.meta.get(_sysmeta(kind)) if record is not None else None
            if stored:
                response.headers[f"X-{kind.title()}-Rfc-Compliant-Etags"] = stored
        return response
