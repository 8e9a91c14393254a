"""docs/cli.md's examples run: every fenced `sh` block, in order, in one bash session, with
`strato` on the PATH and the login block's URL, user and password replaced by a fresh
account on the test server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from tests.client.conftest import clean_environ
from tests.harness import Server

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)


def blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text())


def test_the_doc_has_examples_for_every_command() -> None:
    text = "\n".join(blocks())
    for command in ("auth", "capabilities", "post", "upload", "list", "stat", "copy",
                    "delete", "download", "sync", "tempurl", "share", "image create",
                    "image list", "image show", "image update", "image download",
                    "image delete"):
        assert re.search(rf"^strato {command}\b", text, re.M), command


def test_every_sh_block_runs(server: Server, tmp_path: Path) -> None:
    project = f"doc{uuid.uuid4().hex[:8]}"
    user = f"u{uuid.uuid4().hex[:8]}"
    server.add_user(project, user, "doc-pass-1", role="admin")
    script = "\n".join(blocks())
    script = script.replace("http://127.0.0.1:8080", server.url)
    script = script.replace("OS_USERNAME=demo OS_PASSWORD=demo-password OS_PROJECT_NAME=demo",
                            f"OS_USERNAME={user} OS_PASSWORD=doc-pass-1 "
                            f"OS_PROJECT_NAME={project}")
    assert server.url in script and project in script
    # the account the examples name by path is this project's
    script = script.replace("/v1/AUTH_demo/", "/v1/$ACCOUNT/")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "strato"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m strato \"$@\"\n")
    shim.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    prologue = "set -euo pipefail\nset -x\n"
    account = (f"ACCOUNT=$(strato auth --json | {sys.executable} -c 'import json, sys; "
               "print(json.load(sys.stdin)[\"storage_url\"].rsplit(\"/\", 1)[1])')\n")
    # ACCOUNT is known once the login block has run: insert it after the first block
    first, rest = script.split("strato capabilities", 1)
    script = first + "strato capabilities" + rest.split("\n", 1)[0] + "\n" + account + \
        rest.split("\n", 1)[1]
    env = {**clean_environ(home), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", prologue + script], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in done.stderr
    assert (work / "upload.html").read_text().count('type="hidden"') == 5
    assert (work / "trip-copy" / "day1" / "c.jpg").read_text() == "noon\n"
    assert not (work / "trip-copy" / "day2" / "b.jpg").exists()
