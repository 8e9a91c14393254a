"""A worker process ends when the `strato serve` process that spawned it dies.

uvicorn's parent stops its workers when it is stopped, but a parent killed outright
(SIGKILL, the OOM killer) runs no code: its workers would go on serving, orphaned, holding the
port, and the next `strato serve` would fail with "Address already in use". So each spawned
worker asks the kernel, first thing, for SIGTERM when its parent dies
(`prctl(PR_SET_PDEATHSIG)`, Linux); SIGTERM is uvicorn's graceful stop, so requests in
flight finish and the metadata store closes cleanly. The request only covers a parent that
dies after it was made, so the worker then checks that its parent is still the one that
spawned it. Elsewhere a thread polls the parent's pid instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time

__all__ = ["die_with_parent"]

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 1.0
log = logging.getLogger("strato.server")


def die_with_parent() -> None:
    """In a worker spawned by multiprocessing: SIGTERM to self once the parent is gone.
    Does nothing in a process that multiprocessing did not spawn (a one-worker server)."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return
    parent_pid = parent.pid
    if not (sys.platform.startswith("linux") and _pdeathsig(signal.SIGTERM)):
        threading.Thread(target=_watch, args=(parent_pid,), name="strato-lifeline",
                         daemon=True).start()
    if os.getppid() != parent_pid:  # died before the request was in place
        log.warning("parent process %d is gone: worker %d stops", parent_pid, os.getpid())
        os.kill(os.getpid(), signal.SIGTERM)


def _pdeathsig(sig: int) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return bool(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    log.warning("parent process %d is gone: worker %d stops", parent_pid, os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)
