"""`strato sync`: both directions, --dry-run, --delete, include/exclude; and the SDK's
planning functions it drives."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import swiftclient

from strato.client.sync import Location, scan_local, selected
from tests.client.conftest import CLI, make_tree


def conn(tester: tuple[str, str]) -> swiftclient.Connection:
    url, token = tester
    return swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)


def test_location_forms() -> None:
    assert Location.parse("swift://photos/2024/") == Location(container="photos",
                                                             prefix="2024/")
    assert Location.parse("swift://photos") == Location(container="photos", prefix="")
    assert Location.parse("./photos").path == Path("photos")
    with pytest.raises(ValueError, match="no container"):
        Location.parse("swift:///x")


def test_patterns() -> None:
    assert selected("a/b.jpg", ["*.jpg"], [])
    assert not selected("a/b.png", ["*.jpg"], [])
    assert not selected("a/b.jpg", ["*.jpg"], ["a/*"])
    assert selected("a/b.jpg", [], [])
    assert not selected("tmp/x", [], ["tmp/*"])


def test_scan_local_skips_partial_downloads(tmp_path: Path) -> None:
    make_tree(tmp_path, {"a": b"1", "b/c": b"22", "d.part": b"", "d.part.json": b"{}"})
    assert {k: v.size for k, v in scan_local(tmp_path).items()} == {"a": 1, "b/c": 2}


def test_sync_up_then_down_with_delete_and_dry_run(cli: CLI, name: Callable[[str], str],
                                                   tester: tuple[str, str]) -> None:
    box = name("sync")
    remote = f"swift://{box}/backup"
    make_tree(cli.cwd / "src", {"a.txt": b"alpha", "b/b.txt": b"beta", "b/c.log": b"log",
                                "big.bin": os.urandom(3 * 2**20)})
    first = cli("sync", "src", remote, "--segment-size", "1M")
    assert sorted(first.out.split("\n")[:-1]) == sorted([
        "upload a.txt (new)", "upload b/b.txt (new)", "upload b/c.log (new)",
        "upload big.bin (new)"])
    assert "copied 4, deleted 0, unchanged 0" in first.err
    c = conn(tester)
    assert sorted(o["name"] for o in c.get_container(box)[1]) == [
        "backup/a.txt", "backup/b/b.txt", "backup/b/c.log", "backup/big.bin"]
    # nothing changed: nothing to copy, the large object judged by its mtime
    again = cli("sync", "src", remote, "--json").json()
    assert again["copy"] == [] and again["unchanged"] == 4

    (cli.cwd / "src" / "a.txt").write_bytes(b"ALPHA")  # same size, other content
    (cli.cwd / "src" / "b" / "b.txt").unlink()
    (cli.cwd / "src" / "new.txt").write_bytes(b"fresh")
    plan = cli("sync", "src", remote, "--delete", "--dry-run", "--json").json()
    assert plan["dry_run"] is True
    assert {(a["path"], a["reason"]) for a in plan["copy"]} == {("a.txt", "content"),
                                                               ("new.txt", "new")}
    assert plan["delete"] == [{"path": "b/b.txt", "action": "delete-remote"}]
    assert c.get_object(box, "backup/a.txt")[1] == b"alpha"  # a dry run changes nothing

    text = cli("sync", "src", remote, "--delete", "--dry-run").out
    assert "delete-remote b/b.txt" in text and "upload a.txt (content)" in text

    done = cli("sync", "src", remote, "--delete", "--exclude", "*.log")
    assert "delete-remote b/b.txt" in done.out
    assert c.get_object(box, "backup/a.txt")[1] == b"ALPHA"
    names = sorted(o["name"] for o in c.get_container(box)[1])
    assert names == ["backup/a.txt", "backup/b/c.log", "backup/big.bin", "backup/new.txt"]

    # down: into an empty directory, then --delete removes a local extra
    cli("sync", remote, "copy", "-q")
    local = {p.relative_to(cli.cwd / "copy").as_posix(): p.read_bytes()
             for p in (cli.cwd / "copy").rglob("*") if p.is_file()}
    assert local == {"a.txt": b"ALPHA", "b/c.log": b"log", "new.txt": b"fresh",
                     "big.bin": (cli.cwd / "src" / "big.bin").read_bytes()}
    (cli.cwd / "copy" / "extra.txt").write_bytes(b"x")
    (cli.cwd / "copy" / "keep.log").write_bytes(b"x")
    down = cli("sync", remote, "copy", "--delete", "--exclude", "*.log", "--json").json()
    assert down["copy"] == [] and down["delete"] == [{"path": "extra.txt",
                                                      "action": "delete-local"}]
    assert not (cli.cwd / "copy" / "extra.txt").exists()
    assert (cli.cwd / "copy" / "keep.log").exists()
    only = cli("sync", remote, "jpgs", "--include", "*.txt", "--json").json()
    assert sorted(a["path"] for a in only["copy"]) == ["a.txt", "new.txt"]


def test_sync_needs_one_local_and_one_remote_side(cli: CLI) -> None:
    (cli.cwd / "d").mkdir()
    assert cli("sync", "d", "d", ok=False).code == 2
    assert cli("sync", "swift://a", "swift://b", ok=False).code == 2
    assert cli("sync", "missing-dir", "swift://a", ok=False).code == 2


def test_sync_from_a_missing_container_is_not_found(cli: CLI, name: Callable[[str], str],
                                                     ) -> None:
    assert cli("sync", f"swift://{name('none')}", "out", ok=False).code == 3
