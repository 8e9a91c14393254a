"""A real OpenStack Swift cluster for tests that compare or connect Strato with it.

Swift itself is installed on first use (from PyPI into ~/.cache/strato-bench/swift-venv, the
venv `python -m bench.compare` also uses), so a cold cache costs a download, not coverage.
Skipped, with the reason, only for what is outside the tests' control: no root (the cluster
keeps its objects on an XFS loop mount, for Swift's xattrs) or a failed download.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from bench.swift_cluster import SwiftCluster, SyncRealm

VENV = Path.home() / ".cache" / "strato-bench" / "swift-venv"


def swift_bindir() -> Path:
    """The bin directory of a venv with Swift, installing it (and its Debian packages) first
    if need be."""
    from bench import swift_cluster

    if os.geteuid() != 0:
        pytest.skip("real Swift needs root here (an XFS loop mount for its xattrs)")
    try:
        swift_cluster.ensure_apt()
        return swift_cluster.ensure_venv(VENV)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"OpenStack Swift {swift_cluster.SWIFT_VERSION} could not be installed "
                    f"(package download failed: {exc})")


@contextlib.contextmanager
def swift_cluster(tmp_path: Path,
                  sync: SyncRealm | None = None) -> Iterator[SwiftCluster]:
    """A started one-node Swift cluster (`bench.swift_cluster.SwiftCluster`), stopped and its
    XFS mount removed afterwards; `sync` is its optional `SyncRealm`."""
    from bench import swift_cluster as sw

    bindir = swift_bindir()
    with contextlib.ExitStack() as stack:
        mnt = stack.enter_context(sw.xfs_mount(tmp_path, 2))
        cluster = sw.SwiftCluster(bindir, mnt / "swift", sync=sync)
        stack.callback(cluster.stop)
        cluster.configure()
        cluster.start()
        yield cluster
