"""Workers that share a burst of new connections instead of one taking them all.

uvicorn gives every worker the same listening socket, and libuv (under uvloop) accepts every
pending connection in one go. A client that opens several connections at once, as the CLI's
four archive streams do, often had them all land on one worker while the other sat idle: in
six uploads of 5,000 files into one server, the only one split 2:2 took 2.5 s, those split
1:3 2.7–2.9 s and the one split 4:0 3.2 s.

Here each worker accepts one connection at a time and publishes how many it holds open (a
slot per worker in a small file every worker maps). A worker that holds more than another
live worker leaves it for the loop's next turn, so that the other takes the connection; if
none does within `MOST_DEFERRED` (the other worker is busy in a long callback, or gone),
it accepts after all, so a connection waits at most that long. nginx's `accept_mutex` makes
the same trade.

`strato serve` names `new_event_loop` as uvicorn's loop factory and sets `SLOTS_ENV` to the
file (made by the parent before it starts the workers). A single worker binds its own
address and keeps uvloop's server; without the file every worker simply accepts.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import mmap
import os
import socket
import ssl as ssl_module
import struct
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvloop

log = logging.getLogger("strato.server")

SLOTS_ENV = "STRATO_WORKER_SLOTS"
SLOTS = 64
"""Workers that share; one started past them (a machine of more cores) accepts on its own."""
SLOT = struct.Struct("qq")
"""(pid, open connections) per worker; pid 0 is a free slot."""
ALL_SLOTS = struct.Struct(f"{2 * SLOTS}q")
MOST_DEFERRED = 0.010
AGAIN = 0.005
"""A deferred connection is looked at again at the loop's next turn; a look more than this
after the last one starts a new wait."""
#: accept errors that say the process or the machine is out of something: pause, as asyncio
#: does, rather than spin on a socket that stays readable
EXHAUSTED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
PAUSE_SECONDS = 1.0
ACCEPTS_PER_WAKE = 16
"""Connections accepted in one go while this worker is no busier than the others."""


@contextlib.contextmanager
def worker_slots() -> Iterator[Path | None]:
    """A fresh slots file for the workers `uvicorn.run` is about to start (in the parent),
    removed when they are done; None, with a warning, where no temporary file can be made
    (the workers then accept without sharing). A local temporary file: a data directory on
    shared storage is seen by other machines, whose process ids mean nothing here."""
    try:
        fd, name = tempfile.mkstemp(prefix="strato-workers-")
        with os.fdopen(fd, "wb") as file:
            file.truncate(SLOTS * SLOT.size)
    except OSError as exc:
        log.warning("no file for the workers to share connections by (%s): each accepts "
                    "on its own", exc)
        yield None
        return
    try:
        yield Path(name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


class Occupancy:
    """This worker's slot and a view of the others'."""

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, SLOTS * SLOT.size)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                self._offset = self._claim()
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        self.pid = os.getpid()
        self.open = 0

    def _claim(self) -> int:
        """A free slot, or one left by a worker that died (uvicorn starts a new one)."""
        values = ALL_SLOTS.unpack_from(self._map)
        for index in range(SLOTS):
            pid = values[2 * index]
            if pid == 0 or not _alive(pid):
                offset = index * SLOT.size
                SLOT.pack_into(self._map, offset, os.getpid(), 0)
                return offset
        raise RuntimeError("no free worker slot")

    def change(self, by: int) -> None:
        self.open = max(0, self.open + by)
        SLOT.pack_into(self._map, self._offset, self.pid, self.open)

    def fewer_elsewhere(self) -> bool:
        """Whether another live worker holds fewer connections than this one would with the
        next: among a few, any fewer; among dozens, a quarter fewer (one more is noise)."""
        fewer = self.open - 1 - self.open // 4
        values = ALL_SLOTS.unpack_from(self._map)
        for index in range(SLOTS):
            pid, count = values[2 * index], values[2 * index + 1]
            if pid not in (0, self.pid) and count <= fewer:
                if _alive(pid):
                    return True
                SLOT.pack_into(self._map, index * SLOT.size, 0, 0)
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


OCCUPANCY: Occupancy | None = None
"""This worker's, once its server listens on a shared socket with a slots file."""


def connection_closed() -> None:
    """Called by the HTTP protocol when a connection ends (it was counted when accepted)."""
    if OCCUPANCY is not None:
        OCCUPANCY.change(-1)


class SharingServer(asyncio.AbstractServer):
    """Serves accepted connections through the loop's own transports, one accept at a time,
    leaving a connection to a less occupied worker for up to `MOST_DEFERRED`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 protocol_factory: Any, ssl: ssl_module.SSLContext | None, backlog: int,
                 occupancy: Occupancy | None) -> None:
        self._loop = loop
        self._sock: socket.socket | None = sock
        self._factory = protocol_factory
        self._ssl = ssl
        self._occupancy = occupancy
        self._handshakes: set[asyncio.Task[Any]] = set()
        self._closed = asyncio.Event()
        self._resume_at: asyncio.TimerHandle | None = None
        self._deferring_since = 0.0
        self._last_deferred = float("-inf")
        sock.setblocking(False)
        sock.listen(backlog)
        loop.add_reader(sock.fileno(), self._ready)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return () if self._sock is None else (self._sock,)

    def _ready(self) -> None:
        for _ in range(ACCEPTS_PER_WAKE):
            if self._sock is None:
                return
            if self._occupancy is not None and self._should_defer():
                return  # the socket stays readable: asked again at the loop's next turn
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # none left, or another worker took it
            except OSError as exc:
                if exc.errno in EXHAUSTED:
                    log.error("cannot accept a connection (%s): not accepting for %.0f s",
                              exc.strerror, PAUSE_SECONDS)
                    self._pause(PAUSE_SECONDS)
                return  # ECONNABORTED and the like: the client left before it was accepted
            if self._occupancy is not None:
                self._occupancy.change(+1)
            conn.setblocking(False)
            task = self._loop.create_task(self._connect(conn))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    def _should_defer(self) -> bool:
        assert self._occupancy is not None
        if not self._occupancy.fewer_elsewhere():
            return False
        now = time.monotonic()  # the loop's clock counts whole milliseconds
        if now - self._last_deferred > AGAIN:  # a new wait, not the last one going on
            self._deferring_since = now
        if now - self._deferring_since >= MOST_DEFERRED:
            return False  # nobody else took it: the other workers are busy or stuck
        self._last_deferred = now
        return True

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn, ssl=self._ssl)
        except OSError as exc:  # SSL errors and timeouts among them
            log.debug("connection ended before it started: %s", exc)
            conn.close()
            connection_closed()

    def _pause(self, seconds: float) -> None:
        assert self._sock is not None
        self._loop.remove_reader(self._sock.fileno())
        self._resume_at = self._loop.call_later(seconds, self._resume)

    def _resume(self) -> None:
        self._resume_at = None
        if self._sock is not None:
            self._loop.add_reader(self._sock.fileno(), self._ready)

    def close(self) -> None:
        if self._sock is None:
            return
        if self._resume_at is not None:
            self._resume_at.cancel()
            self._resume_at = None
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._sock is not None

    async def start_serving(self) -> None:
        """Serving starts with the server."""

    async def serve_forever(self) -> None:
        await self._closed.wait()


class SharingLoop(uvloop.Loop):
    """uvloop, whose servers on a socket shared by the workers accept as `SharingServer`."""

    async def create_server(  # type: ignore[override]
            self, protocol_factory: Any, *args: Any, **options: Any) -> asyncio.AbstractServer:
        sock = options.get("sock")
        if args or sock is None or set(options) - {"sock", "ssl", "backlog"}:
            return await super().create_server(protocol_factory, *args, **options)
        global OCCUPANCY
        slots = os.environ.get(SLOTS_ENV)
        if slots and OCCUPANCY is None:
            try:
                OCCUPANCY = Occupancy(Path(slots))
            except (OSError, ValueError, RuntimeError) as exc:
                log.warning("cannot share connections with the other workers (%s): "
                            "accepting on its own", exc)
        return SharingServer(self, sock, protocol_factory, options.get("ssl"),
                             options.get("backlog", 100), OCCUPANCY)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvicorn's loop factory (`loop="strato.server.accept:new_event_loop"`)."""
    return SharingLoop()
