"""`strato stat/list/post/copy/delete/auth/capabilities`, and how every client command
fails: exit codes and one line on stderr for not found, a wrong password, no server."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import swiftclient

from tests.client.conftest import CLI, login_environ
from tests.harness import Server, free_port


def conn(tester: tuple[str, str]) -> swiftclient.Connection:
    url, token = tester
    return swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)


def test_auth_prints_what_swift_auth_prints_and_json(cli: CLI, tester: tuple[str, str]) -> None:
    out = cli("auth").out.splitlines()
    assert out[0] == f"export OS_STORAGE_URL={tester[0]}"
    assert out[1].startswith("export OS_AUTH_TOKEN=")
    doc = cli("auth", "--json").json()
    assert doc["storage_url"] == tester[0] and doc["token"]


def test_capabilities(cli: CLI) -> None:
    doc = cli("capabilities", "--json").json()
    assert "slo" in doc and "bulk_delete" in doc
    assert "tempurl:" in cli("capabilities").out


def test_post_stat_list_round_trip(cli: CLI, name: Callable[[str], str],
                                   tester: tuple[str, str], tmp_path: Path) -> None:
    box = name("box")
    # post on a missing container makes it, as `swift post` does
    cli("post", box, "-m", "Color:blue", "-r", ".r:*,.rlistings", "-H", "X-Container-Meta-Size:9")
    doc = cli("stat", box, "--json").json()
    assert doc["container"] == box
    assert doc["metadata"] == {"Color": "blue", "Size": "9"}
    assert doc["headers"]["X-Container-Read"] == ".r:*,.rlistings"
    text = cli("stat", box).out
    assert "Read ACL: .r:*,.rlistings" in text and "Meta Color: blue" in text
    cli("post", box, "-m", "Color:")  # an empty value removes it
    assert cli("stat", box, "--json").json()["metadata"] == {"Size": "9"}

    c = conn(tester)
    for obj in ("a.txt", "dir/b.txt", "dir/c.txt"):
        c.put_object(box, obj, obj.encode(), content_type="text/plain")
    assert cli("list", box).out.split() == ["a.txt", "dir/b.txt", "dir/c.txt"]
    assert cli("list", box, "--prefix", "dir/").out.split() == ["dir/b.txt", "dir/c.txt"]
    assert cli("list", box, "--delimiter", "/").out.split() == ["a.txt", "dir/"]
    rows = cli("list", box, "--delimiter", "/", "--json").json()
    assert rows[0]["name"] == "a.txt" and rows[0]["bytes"] == 5
    assert rows[0]["hash"] == hashlib.md5(b"a.txt").hexdigest()
    assert rows[1] == {"subdir": "dir/"}
    long = cli("list", box, "--long").out.splitlines()
    assert long[0].split()[0] == "5" and long[0].endswith("a.txt") and "text/plain" in long[0]
    assert long[-1].strip() == "23"  # the total bytes
    assert box in cli("list").out.split()
    containers = {r["name"]: r for r in cli("list", "--json").json()}
    assert containers[box]["count"] == 3 and containers[box]["bytes"] == 23

    cli("post", box, "a.txt", "-m", "Owner:ann")
    obj = cli("stat", box, "a.txt", "--json").json()
    assert obj["metadata"] == {"Owner": "ann"} and obj["headers"]["Content-Length"] == "5"
    assert c.head_object(box, "a.txt")["x-object-meta-owner"] == "ann"
    acct = cli("stat", "--json").json()
    assert acct["account"] == tester[0].rsplit("/", 1)[1]
    assert int(acct["headers"]["X-Account-Container-Count"]) >= 1


def test_copy(cli: CLI, name: Callable[[str], str], tester: tuple[str, str]) -> None:
    src, dst = name("src"), name("dst")
    c = conn(tester)
    c.put_container(src)
    c.put_container(dst)
    c.put_object(src, "o", b"payload", headers={"X-Object-Meta-Kept": "yes"})
    out = cli("copy", src, "o", "-d", f"/{dst}/copied", "-m", "New:1").out
    assert out.strip() == f"{src}/o copied to {dst}/copied"
    headers, body = c.get_object(dst, "copied")
    assert body == b"payload" and headers["x-object-meta-kept"] == "yes"
    assert headers["x-object-meta-new"] == "1"
    cli("copy", src, "o", "-d", f"/{dst}/fresh", "-M")
    assert "x-object-meta-kept" not in c.head_object(dst, "fresh")
    done = cli("copy", src, "o", "-d", f"/{dst}", "--json").json()
    assert done == [{"from": f"{src}/o", "to": f"{dst}/o"}]
    assert c.get_object(dst, "o")[1] == b"payload"


def test_delete_objects_prefix_container_and_large_objects(
        cli: CLI, name: Callable[[str], str], tester: tuple[str, str], tmp_path: Path) -> None:
    box = name("del")
    c = conn(tester)
    c.put_container(box)
    for i in range(30):
        c.put_object(box, f"keep/{i:02d}", b"x")
        c.put_object(box, f"drop/{i:02d}", b"y")
    big = tmp_path / "big.bin"
    big.write_bytes(b"z" * 3_000_000)
    cli("upload", box, str(big), "--object-name", "large", "--segment-size", "1M", "-q")
    assert len(c.get_container(f"{box}_segments")[1]) == 3

    out = cli("delete", box, "--prefix", "drop/").out.split()
    assert out == [f"{box}/drop/{i:02d}" for i in range(30)]
    assert [o["name"] for o in c.get_container(box)[1]][:2] == ["keep/00", "keep/01"]
    # a static large object goes with its segments
    assert cli("delete", box, "large").out.split() == [f"{box}/large"]
    assert c.get_container(f"{box}_segments")[1] == []

    missing = cli("delete", box, "keep/00", "nope", ok=False)
    assert missing.code == 3
    assert missing.out.split() == [f"{box}/keep/00"]
    assert f"{box}/nope: not found" in missing.err

    report = cli("delete", box, "--json").json()
    assert len(report["deleted"]) == 29 and report["containers"] == [box]
    assert box not in [x["name"] for x in c.get_account()[1]]


def test_usage_errors_exit_2(cli: CLI) -> None:
    assert cli("delete", ok=False).code == 2
    assert cli("list", "--no-such-option", ok=False).code == 2
    wrong = cli("upload", "c", "/does/not/exist", ok=False)
    assert wrong.code == 2 and "does not exist" in wrong.err


def test_not_found_exits_3_with_one_line(cli: CLI, name: Callable[[str], str]) -> None:
    for args in (("list", name("gone")), ("stat", name("gone")),
                 ("stat", name("gone"), "obj"), ("download", name("gone"), "o", "-o", "x")):
        result = cli(*args, ok=False)
        assert result.code == 3, args
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and "404 Not Found" in lines[0], result.err


def test_wrong_password_exits_5_with_a_hint(cli: CLI, server: Server) -> None:
    result = cli("list", ok=False, env=login_environ(server, password="wrong"))
    assert result.code == 5
    first, hint = result.err.strip().splitlines()
    assert first.startswith("error: ") and "401" in first and "/identity" in first
    assert hint.strip().startswith("hint: check the user, password")
    assert f"tried tester in project test at {server.url}/identity" in hint


def test_server_down_exits_6(cli: CLI) -> None:
    url = f"http://127.0.0.1:{free_port()}/identity"
    result = cli("stat", ok=False, env={"OS_AUTH_URL": url})
    assert result.code == 6
    assert url in result.err and "is the server running" in result.err


def test_swift_v1_login_with_st_variables(cli: CLI, server: Server) -> None:
    env = {k: "" for k in login_environ(server)}
    env.update({"ST_AUTH": server.url + "/auth/v1.0", "ST_USER": "test:tester",
                "ST_KEY": "testing"})
    stripped = {k: v for k, v in cli.env.items() if not k.startswith("OS_")}
    result = CLI({**stripped, **{k: v for k, v in env.items() if v}}, cli.cwd)("auth", "--json")
    assert json.loads(result.out)["storage_url"].startswith(server.url + "/v1/AUTH_")
