"""Per-request CPU cost of the HTTP protocol layer alone: uvicorn's httptools protocol vs
Strato's subclass (server/protocol.py).

Keep-alive 4 KiB GETs are fed to each protocol over an in-memory transport, answered by a
trivial ASGI app with Strato's usual response headers: no sockets and no other process, so
the difference is the layer's own cost even on a loaded machine. Rounds alternate between the
two classes; the best round of each is the figure.

Usage: python -m bench.protocol [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from strato.server.protocol import SwiftHttpProtocol

BODY = b"x" * 4096
HEADERS = [(b"Content-Type", b"application/octet-stream"), (b"Etag", b"0" * 32),
           (b"Last-Modified", b"Tue, 01 Dec 2026 14:09:56 GMT"),
           (b"X-Timestamp", b"1796134195.32547"), (b"Accept-Ranges", b"bytes"),
           (b"X-Object-Meta-Color", b"blue"), (b"X-Trans-Id", b"tx" + b"0" * 30),
           (b"X-Openstack-Request-Id", b"tx" + b"0" * 30), (b"Content-Length", b"4096")]
REQUEST = (b"GET /v1/AUTH_0123456789abcdef/c/o HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
           b"User-Agent: python-httpx/0.28\r\nAccept: */*\r\nX-Auth-Token: " + b"t" * 43
           + b"\r\n\r\n")


async def app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


class MemoryTransport:
    """Counts what the protocol writes; everything else is a no-op."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def close(self) -> None: ...

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


async def per_request_us(cls: type[HttpToolsProtocol], requests: int) -> float:
    config = Config(app=app, lifespan="off", log_level="warning")
    config.load()
    state = ServerState()
    protocol = cls(config=config, server_state=state, app_state={},
                   _loop=asyncio.get_running_loop())
    transport = MemoryTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    start = time.process_time()
    for _ in range(requests):
        protocol.data_received(REQUEST)
        while state.tasks:
            await asyncio.sleep(0)
    took = time.process_time() - start
    assert transport.written > requests * len(BODY), "responses were not written"
    return took / requests * 1e6


async def main(requests: int, rounds: int) -> None:
    results: dict[type[HttpToolsProtocol], list[float]] = {
        HttpToolsProtocol: [], SwiftHttpProtocol: []}
    for _ in range(rounds):
        for cls, figures in results.items():
            figures.append(await per_request_us(cls, requests))
    for cls, figures in results.items():
        figures.sort()
        print(f"{cls.__name__:20s} best {figures[0]:6.2f} µs/request, "
              f"median {figures[len(figures) // 2]:6.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    uvloop.run(main(args.requests, args.rounds))
