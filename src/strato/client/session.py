"""An authenticated session: the token reused until shortly before it expires, renewed
once when the server answers 401, and the endpoint of each service from the catalog."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

import aiohttp

from strato.client.auth import Auth, Token, select_endpoint
from strato.client.errors import ConfigError, Unauthorized
from strato.client.transport import Body, Response, Transport, read_whole

#: A token this close to its expiry is renewed before use.
RENEW_BEFORE_S = 60.0


@dataclass
class Session:
    auth: Auth
    transport: Transport = field(default_factory=Transport)
    region: str | None = None
    interface: str = "public"
    endpoint_overrides: dict[str, str] = field(default_factory=dict)
    _token: Token | None = field(default=None, init=False, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def token(self, *, renew: bool = False, stale: Token | None = None) -> Token:
        """The current token; a new one when it is near expiry or `stale` was refused."""
        async with self._lock:
            current = self._token
            if current is None or current.expires_within(RENEW_BEFORE_S) or (
                    renew and current is stale):
                current = self._token = await self.auth.login(self.transport)
            return current

    async def endpoint(self, service_type: str) -> str:
        if service_type in self.endpoint_overrides:
            return self.endpoint_overrides[service_type].rstrip("/")
        token = await self.token()
        url = select_endpoint(token.catalog, service_type, region=self.region,
                              interface=self.interface)
        if url is None:
            where = f" in region {self.region}" if self.region else ""
            raise ConfigError(f"the cloud's catalog has no {self.interface} {service_type} "
                              f"endpoint{where}")
        return url

    async def url(self, service_type: str, path: str = "") -> str:
        base = await self.endpoint(service_type)
        return base + path if not path or path.startswith("/") else f"{base}/{path}"

    async def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                      params: Mapping[str, str] | None = None, body: Body = None,
                      ok: Callable[[int], bool] | None = None) -> Response:
        return await read_whole(self.stream(method, url, headers=headers, params=params,
                                            body=body, ok=ok))

    @contextlib.asynccontextmanager
    async def stream(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                     params: Mapping[str, str] | None = None, body: Body = None,
                     ok: Callable[[int], bool] | None = None,
                     ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Like Transport.stream, with the token; a 401 renews it once and tries again."""
        token = await self.token()
        async with contextlib.AsyncExitStack() as stack:
            for attempt in (0, 1):
                sent = {**(headers or {}), "X-Auth-Token": token.value}
                try:
                    response = await stack.enter_async_context(self.transport.stream(
                        method, url, headers=sent, params=params, body=body, ok=ok))
                    break
                except Unauthorized:
                    if attempt:
                        raise
                    token = await self.token(renew=True, stale=token)
            yield response

    async def close(self) -> None:
        await self.transport.close()

