"""`strato image ...` against the session server's image service, and the reason a failed
import gives (a private server that lets web-download fetch from loopback)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.client.conftest import CLI, clean_environ, login_environ
from tests.harness import Server


def test_create_with_file_and_wait_then_manage(cli: CLI) -> None:
    data = os.urandom(2 * 2**20 + 5)
    (cli.cwd / "disk.raw").write_bytes(data)
    name = f"img-{uuid.uuid4().hex[:8]}"
    made = cli("image", "create", name, "--file", "disk.raw", "--wait",
               "--property", "os_distro=debian", "--property", "min_ram=512", "--json")
    image = made.json()
    assert image["status"] == "active" and image["size"] == len(data)
    assert image["os_distro"] == "debian" and image["min_ram"] == 512
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert f"{image['id']} active" in made.err  # the statuses it passed through

    listed = cli("image", "list", "--name", name).out.strip().split()
    assert listed[0] == image["id"] and listed[1] == "active" and listed[-1] == name
    shown = cli("image", "show", name).out
    assert "os_distro" in shown and image["id"] in shown

    cli("image", "download", name, "-o", "back.raw")
    assert (cli.cwd / "back.raw").read_bytes() == data

    updated = cli("image", "update", image["id"], "--name", name + "-v2", "--property",
                  "hw_disk_bus=scsi", "--remove-property", "os_distro", "--json").json()
    assert updated["name"] == name + "-v2" and updated["hw_disk_bus"] == "scsi"
    assert "os_distro" not in updated

    cli("image", "delete", name + "-v2")
    gone = cli("image", "show", image["id"], ok=False)
    assert gone.code == 3


def test_glance_direct_and_separate_upload(cli: CLI) -> None:
    (cli.cwd / "a.raw").write_bytes(b"a" * 100_000)
    image = cli("image", "create", f"gd-{uuid.uuid4().hex[:6]}", "--file", "a.raw",
                "--import-method", "glance-direct", "--wait", "--json").json()
    assert image["status"] == "active" and image["size"] == 100_000
    queued = cli("image", "create", f"later-{uuid.uuid4().hex[:6]}").out.strip()
    assert cli("image", "show", queued, "--json").json()["status"] == "queued"
    cli("image", "upload", queued, "a.raw", "--wait")
    assert cli("image", "show", queued, "--json").json()["status"] == "active"
    cli("image", "delete", queued, image["id"])


def test_usage_of_image_create(cli: CLI) -> None:
    assert cli("image", "create", "x", "--import-method", "web-download", ok=False).code == 2
    assert cli("image", "create", "x", "--import-method", "glance-direct", ok=False).code == 2
    assert cli("image", "update", "x", ok=False).code == 2


def test_wait_prints_statuses_and_the_reason_of_a_failed_import(
        make_server: Callable[..., Server], tmp_path: Path) -> None:
    server = make_server(extra_args=("--image-import-allowed-hosts", "127.0.0.1",
                                     "--image-import-allowed-ports", ""))
    server.add_user("imgs", "owner", "owner-pass-1", role="admin")
    home = tmp_path / "h"
    home.mkdir(exist_ok=True)
    env = {**clean_environ(home), **login_environ(server), "OS_PROJECT_NAME": "imgs",
           "OS_USERNAME": "owner", "OS_PASSWORD": "owner-pass-1"}
    cli = CLI(env, tmp_path)
    # the server itself refuses this fetch: the import fails, and the task says why
    missing = f"{server.url}/no-such-file.img"
    failed = cli("image", "create", "broken", "--uri", missing, "--wait", ok=False)
    assert failed.code == 1
    last = failed.err.strip().splitlines()[-1]
    assert last.startswith("error: image ") and "import failed for store(s)" in last
    assert f"{missing} answered 4" in last, failed.err
    image_id = last.split()[2]
    waited = cli("image", "wait", image_id, ok=False)
    assert waited.code == 1
    assert waited.out.split()[0] == image_id and waited.out.split()[1] in ("queued", "importing")
    assert f"{missing} answered 4" in waited.err
