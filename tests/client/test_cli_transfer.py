"""`strato upload` and `strato download`: trees, large objects, skip options, bulk upload,
stdout, and a fresh account for --all."""

from __future__ import annotations

import hashlib
import http.client
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import swiftclient

from tests.client.conftest import CLI, make_tree
from tests.harness import Server


def conn(tester: tuple[str, str]) -> swiftclient.Connection:
    url, token = tester
    return swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)


def tree_files(count: int = 40) -> dict[str, bytes]:
    files = {f"d{i % 4}/f{i:03d}.bin": os.urandom(100 + i * 97) for i in range(count)}
    files["with space é.txt"] = b"unicode and spaces"
    files["empty"] = b""
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in root.rglob("*") if p.is_file()}


def test_upload_then_download_a_tree(cli: CLI, name: Callable[[str], str],
                                     tester: tuple[str, str]) -> None:
    box = name("tree")
    files = tree_files()
    make_tree(cli.cwd / "photos", files)
    os.utime(cli.cwd / "photos" / "empty", (1_500_000_000.25, 1_500_000_000.25))
    result = cli("upload", box, "photos", "--json").json()
    assert sorted(d["name"] for d in result["done"]) == sorted(f"photos/{k}" for k in files)
    assert result["failed"] == [] and result["bytes"] == sum(map(len, files.values()))
    c = conn(tester)
    head = c.head_object(box, "photos/d1/f001.bin")
    assert head["etag"] == hashlib.md5(files["d1/f001.bin"]).hexdigest()
    assert float(c.head_object(box, "photos/empty")["x-object-meta-mtime"]) == 1_500_000_000.25

    out = cli("download", box, "-D", "back").out.split("\n")
    assert "photos/d0/f000.bin" in out
    assert read_tree(cli.cwd / "back" / "photos") == files
    assert os.stat(cli.cwd / "back" / "photos" / "empty").st_mtime == 1_500_000_000.25
    assert not list((cli.cwd / "back").rglob("*.part"))

    again = cli("download", box, "-D", "back", "--skip-identical", "--json").json()
    assert len(again["skipped"]) == len(files) and again["done"] == []

    cli("download", box, "--prefix", "photos/d2/", "--remove-prefix", "-D", "flat", "-q")
    assert sorted(p.name for p in (cli.cwd / "flat").iterdir()) == sorted(
        k.split("/")[1] for k in files if k.startswith("d2/"))


def test_object_name_and_single_file_output(cli: CLI, name: Callable[[str], str]) -> None:
    box = name("names")
    make_tree(cli.cwd / "src", {"a.txt": b"alpha", "sub/b.txt": b"beta"})
    assert cli("upload", box, "src/a.txt", "--object-name", "renamed.txt").out.split() == [
        "renamed.txt"]
    assert cli("upload", box, "src", "--object-name", "backup/2024").out.split() == [
        "backup/2024/a.txt", "backup/2024/sub/b.txt"]
    assert cli("download", box, "backup/2024/sub/b.txt", "-o", "-").out == "beta"
    cli("download", box, "renamed.txt", "-o", "copy.txt", "-q")
    assert (cli.cwd / "copy.txt").read_bytes() == b"alpha"


def test_large_files_as_segments_resumable_and_skippable(
        cli: CLI, name: Callable[[str], str], tester: tuple[str, str]) -> None:
    box = name("large")
    data = os.urandom(5 * 2**20 + 123)
    (cli.cwd / "big.bin").write_bytes(data)
    first = cli("upload", box, "big.bin", "--segment-size", "1M", "--segment-threads", "3",
                "--json").json()
    assert first["done"][0]["size"] == len(data)
    c = conn(tester)
    assert c.head_object(box, "big.bin")["x-static-large-object"] == "True"
    assert len(c.get_container(f"{box}_segments")[1]) == 6

    skipped = cli("upload", box, "big.bin", "--segment-size", "1M", "--skip-identical",
                  "--json").json()
    assert skipped["skipped"] == ["big.bin"] and skipped["done"] == []
    changed = cli("upload", box, "big.bin", "--changed", "--json").json()
    assert changed["skipped"] == ["big.bin"]

    cli("download", box, "big.bin", "-o", "back.bin", "--segment-threads", "4", "-q")
    assert (cli.cwd / "back.bin").read_bytes() == data

    (cli.cwd / "small.txt").write_bytes(b"v1")
    cli("upload", box, "small.txt", "-q")
    os.utime(cli.cwd / "small.txt", (1_600_000_000, 1_600_000_000))
    assert cli("upload", box, "small.txt", "--skip-identical", "--json").json()["skipped"] == [
        "small.txt"]
    assert cli("upload", box, "small.txt", "--changed", "--json").json()["skipped"] == []

    cli("upload", box, "big.bin", "--object-name", "dlo.bin", "-S", "2M", "--use-dlo",
        "--segment-container", f"{box}-segs", "-q")
    head = c.head_object(box, "dlo.bin")
    assert head["x-object-manifest"].startswith(f"{box}-segs/dlo.bin/dlo/")
    assert c.get_object(box, "dlo.bin")[1] == data


def test_headers_and_metadata_on_every_object(cli: CLI, name: Callable[[str], str],
                                              tester: tuple[str, str]) -> None:
    box = name("hdr")
    make_tree(cli.cwd / "docs", {"a": b"1", "b": b"2"})
    cli("upload", box, "docs", "-H", "Content-Type:text/x-note", "-m", "Project:apollo", "-q")
    head = conn(tester).head_object(box, "docs/b")
    assert head["content-type"] == "text/x-note" and head["x-object-meta-project"] == "apollo"


def test_bulk_upload_by_archive_checked_by_listing(cli: CLI, name: Callable[[str], str],
                                                   tester: tuple[str, str]) -> None:
    box = name("bulk")
    files = tree_files(60)
    make_tree(cli.cwd / "many", files)
    os.utime(cli.cwd / "many" / "d0" / "f000.bin", (1_400_000_000.5, 1_400_000_000.5))
    result = cli("upload", box, "many", "--bulk", "-m", "Batch:7", "--json").json()
    assert result["bulk_files"] == len(files) and result["failed"] == []
    c = conn(tester)
    listed = {o["name"]: o["hash"] for o in c.get_container(box, full_listing=True)[1]}
    assert listed == {f"many/{k}": hashlib.md5(v).hexdigest() for k, v in files.items()}
    head = c.head_object(box, "many/d0/f000.bin")
    assert float(head["x-object-meta-mtime"]) == 1_400_000_000.5
    assert head["x-object-meta-batch"] == "7"


def test_download_refuses_names_that_leave_the_directory(
        cli: CLI, name: Callable[[str], str], tester: tuple[str, str]) -> None:
    box = name("evil")
    c = conn(tester)
    c.put_container(box)
    c.put_object(box, "ok.txt", b"fine")
    # sent by hand: HTTP libraries tidy `..` out of a URL path before it leaves
    url = urlsplit(tester[0])
    raw = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    raw.request("PUT", f"{url.path}/{box}/../escape.txt", body=b"nope",
                headers={"X-Auth-Token": tester[1]})
    assert raw.getresponse().status == 201
    assert [o["name"] for o in c.get_container(box)[1]] == ["../escape.txt", "ok.txt"]
    result = cli("download", box, "-D", "inside", ok=False)
    assert result.code == 1
    assert "../escape.txt" in result.err and "leave the output directory" in result.err
    assert (cli.cwd / "inside" / "ok.txt").read_bytes() == b"fine"
    assert not (cli.cwd / "escape.txt").exists()


def test_download_all_and_delete_all(fresh_account: CLI) -> None:
    cli = fresh_account
    make_tree(cli.cwd / "x", {"1.txt": b"one", "2.txt": b"two"})
    cli("upload", "first", "x", "-q")
    cli("upload", "second", "x/2.txt", "--object-name", "only.txt", "-q")
    cli("download", "--all", "-D", "everything", "-q")
    assert read_tree(cli.cwd / "everything") == {
        "first/x/1.txt": b"one", "first/x/2.txt": b"two", "second/only.txt": b"two"}
    report = cli("delete", "--all", "--json").json()
    assert sorted(report["containers"]) == ["first", "second"]
    assert cli("list").out == ""


def test_small_objects_come_as_archives(cli: CLI, name: Callable[[str], str],
                                        server: Server) -> None:
    """Where the cloud offers archive download, a tree of small objects arrives in a few
    requests, not one GET each; the files are the same."""
    box = name("arch")
    files = tree_files(120)
    make_tree(cli.cwd / "src", files)
    cli("upload", box, "src", "-q")
    since = len(server.log_path.read_text(errors="replace"))
    cli("download", box, "-D", "back", "-q")
    assert read_tree(cli.cwd / "back" / "src") == files
    lines = [line for line in server.log_path.read_text(errors="replace")[since:].splitlines()
             if f"/{box}" in line and '"GET ' in line]
    archives = [line for line in lines if "archive=tar" in line]
    per_object = [line for line in lines if f"/{box}/" in line]
    assert 1 <= len(archives) <= 4 and per_object == [], "\n".join(lines)
