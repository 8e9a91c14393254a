"""A fault-injecting HTTP proxy for client tests: a real aiohttp server in a thread that
forwards to the real Strato server and, on the requests a rule picks, answers 503 with a
Retry-After, cuts the response off after some bytes, or flips a byte in the body going
either way. It counts what passed through, so a test can tell what the client re-sent."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from tests.harness import free_port


@dataclass
class Rule:
    """What to do to the next `times` requests whose method is `method` and whose path
    contains `path` (and, if given, whose Range header contains `range_has`)."""

    method: str
    path: str
    action: str  # "status", "cut", "corrupt_response", "corrupt_request"
    times: int = 1
    status: int = 503
    retry_after: str | None = None
    after_bytes: int = 0  # "cut": bytes sent first; "corrupt_response": the byte flipped
    range_has: str | None = None
    hits: int = 0

    def picks(self, request: web.Request) -> bool:
        if self.hits >= self.times or request.method != self.method:
            return False
        if self.path not in request.path:
            return False
        return self.range_has is None or self.range_has in request.headers.get("Range", "")


@dataclass
class FaultProxy:
    upstream: str
    port: int = field(default_factory=free_port)
    rules: list[Rule] = field(default_factory=list)
    seen: Counter[tuple[str, str]] = field(default_factory=Counter)
    log: list[tuple[str, str, str]] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, method: str, path_part: str) -> int:
        return sum(n for (m, p), n in self.seen.items() if m == method and path_part in p)

    def _rule(self, request: web.Request) -> Rule | None:
        for rule in self.rules:  # weak-tests: ok (a search: None = no rule)
            if rule.picks(request):
                rule.hits += 1
                return rule
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen[(request.method, request.path)] += 1
        self.log.append((request.method, request.path, request.headers.get("Range", "")))
        rule = self._rule(request)
        if rule and rule.action == "status":
            headers = {"Retry-After": rule.retry_after} if rule.retry_after else {}
            await request.read()
            return web.Response(status=rule.status, headers=headers, text="injected\n")
        body = await request.read()
        if rule and rule.action == "corrupt_request" and body:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("host", "transfer-encoding")}
        headers["Content-Length"] = str(len(body))
        async with self._session.request(request.method, self.upstream + request.path_qs,
                                         headers=headers, data=body,
                                         allow_redirects=False) as upstream:
            response = web.StreamResponse(status=upstream.status)
            for key, value in upstream.headers.items():
                if key.lower() not in ("transfer-encoding", "connection", "content-encoding"):
                    response.headers[key] = value
            await response.prepare(request)
            sent, flipped = 0, False
            async for chunk in upstream.content.iter_chunked(65536):
                if rule and rule.action == "cut" and sent + len(chunk) > rule.after_bytes:
                    await response.write(chunk[:rule.after_bytes - sent])
                    assert request.transport is not None
                    request.transport.close()
                    return response
                if (rule and rule.action == "corrupt_response" and not flipped
                        and sent + len(chunk) > rule.after_bytes):  # that byte flipped
                    at = rule.after_bytes - sent
                    chunk, flipped = chunk[:at] + bytes([chunk[at] ^ 0xFF]) + chunk[at + 1:], True
                await response.write(chunk)
                sent += len(chunk)
            await response.write_eof()
            return response

    def start(self) -> FaultProxy:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application(client_max_size=2**31)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, access_log=None)

            async def boot() -> None:
                self._session = aiohttp.ClientSession(auto_decompress=False)
                await runner.setup()
                await web.TCPSite(runner, "127.0.0.1", self.port).start()
                ready.set()

            loop.run_until_complete(boot())
            loop.run_forever()
            loop.run_until_complete(self._session.close())
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        assert ready.wait(10), "the fault proxy did not start"
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
