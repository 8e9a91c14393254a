"""The `swift` command-line client, unchanged, as a subprocess against the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.api.swift.helpers import conn, uniq
from tests.harness import Server


def swift(server: Server, *args: str, cwd: Path | None = None) -> str:
    exe = Path(sys.executable).parent / "swift"
    result = subprocess.run(
        [str(exe), "-A", f"{server.url}/auth/v1.0", "-U", "test:tester", "-K", "testing",
         *args], capture_output=True, text=True, timeout=120, cwd=cwd,
        env={k: v for k, v in os.environ.items() if not k.startswith(("ST_", "OS_"))})
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


def test_swift_cli_end_to_end(server: Server, tester: tuple[str, str], tmp_path: Path) -> None:
    container = uniq()
    src = tmp_path / "src"
    (src / "dir").mkdir(parents=True)
    files = {"a.txt": b"alpha\n", "dir/b.bin": os.urandom(300_000), "empty": b""}
    for rel, data in files.items():
        (src / rel).write_bytes(data)

    stat = swift(server, "stat")
    assert "Account: AUTH_" in stat and "Containers:" in stat
    c = conn(tester)

    upload = swift(server, "upload", container, ".", "--object-name", "", cwd=src)
    assert "a.txt" in upload
    assert sorted(swift(server, "list", container).split()) == sorted(files)

    swift(server, "post", container, "-m", "Color:blue")
    assert c.head_container(container)["x-container-meta-color"] == "blue"

    out = tmp_path / "out"
    out.mkdir()
    swift(server, "download", container, cwd=out)
    for rel, data in files.items():
        assert (out / rel).read_bytes() == data, rel

    swift(server, "copy", container, "a.txt", "--destination", f"/{container}/a-copy.txt")
    assert c.get_object(container, "a-copy.txt")[1] == files["a.txt"]

    caps = json.loads(swift(server, "capabilities", "--json"))
    assert caps["swift"]["max_file_size"] > 0

    swift(server, "delete", container)
    assert container not in [e["name"] for e in c.get_account(full_listing=True)[1]]
