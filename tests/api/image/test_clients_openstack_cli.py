"""The `openstack image ...` commands (python-openstackclient over openstacksdk) from a
`strato cloud-config` clouds.yaml, unchanged."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

from tests.api.image.conftest import (
    CloudUser,
    RawImage,
    WebImage,
    openstack_cli,
    poll,
    sha512_of,
)


def test_image_create_list_show_set_save_delete(owner: CloudUser, raw_image: RawImage,
                                                tmp_path: Path) -> None:
    osc = openstack_cli(owner, tmp_path)
    name = f"osc-{uuid.uuid4().hex[:8]}"
    created = json.loads(osc("image", "create", "--file", str(raw_image.path),
                             "--disk-format", "raw", "--container-format", "bare",
                             "--property", "os_distro=cirros", name, "-f", "json"))
    image_id = created["id"]
    assert created["name"] == name
    assert created["status"] == "active"
    assert created["checksum"] == raw_image.md5
    assert created["size"] == len(raw_image.data)
    assert created["owner"] == owner.user.project_id
    assert created["properties"]["os_hash_value"] == raw_image.sha512
    assert created["properties"]["os_distro"] == "cirros"

    listed = json.loads(osc("image", "list", "-f", "json"))
    assert {"ID": image_id, "Name": name, "Status": "active"} in listed

    assert osc("image", "set", "--property", "hw_rng_model=virtio", "--min-disk", "1",
               name) == ""
    shown = json.loads(osc("image", "show", name, "-f", "json"))
    assert shown["id"] == image_id
    assert shown["min_disk"] == 1
    assert shown["properties"]["hw_rng_model"] == "virtio"
    assert shown["properties"]["os_distro"] == "cirros"

    out = tmp_path / "saved.raw"
    osc("image", "save", "--file", str(out), image_id)
    assert sha512_of(out) == raw_image.sha512

    assert osc("image", "delete", name) == ""
    gone = osc.run("image", "show", image_id, check=False)
    assert gone.returncode == 1
    assert "Traceback" not in gone.stderr
    assert f"No Image found for {image_id}" in gone.stderr


def test_image_errors_are_readable(owner: CloudUser, tmp_path: Path) -> None:
    osc = openstack_cli(owner, tmp_path)
    missing = f"no-such-image-{uuid.uuid4().hex[:8]}"
    for args in (("image", "show", missing), ("image", "save", "--file", "x", missing)):
        result = osc.run(*args, check=False)
        assert result.returncode == 1, args
        assert "Traceback" not in result.stderr
        assert f"No Image found for {missing}" in result.stderr
    # `openstack image delete <missing>` is left out: OSC 10.5 (DeleteImage.take_action)
    # reports any ResourceNotFound as "Multi Backend support not enabled." (client bug).


def test_qcow2_create_and_mismatch(owner: CloudUser, tmp_path: Path) -> None:
    """A qcow2 made by qemu-img gets its virtual size from the header; raw bytes declared
    qcow2 are refused with the reason (the SDK under OSC then deletes the queued image)."""
    qcow2 = tmp_path / "small.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow2), "64M"], check=True,
                   timeout=60)
    osc = openstack_cli(owner, tmp_path)
    name = f"osc-q-{uuid.uuid4().hex[:8]}"
    created = json.loads(osc("image", "create", "--file", str(qcow2), "--disk-format", "qcow2",
                             "--container-format", "bare", name, "-f", "json"))
    assert created["status"] == "active"
    assert created["virtual_size"] == 64 << 20
    assert created["size"] == qcow2.stat().st_size
    osc("image", "delete", created["id"])

    bad = tmp_path / "bad.raw"
    bad.write_bytes(b"\0" * 65536)
    result = osc.run("image", "create", "--file", str(bad), "--disk-format", "qcow2",
                     "--container-format", "bare", f"{name}-bad", check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "does not match disk_format qcow2" in result.stderr


def test_share_with_another_project(owner: CloudUser, consumer: CloudUser, raw_image: RawImage,
                                    tmp_path: Path) -> None:
    osc = openstack_cli(owner, tmp_path)
    theirs = openstack_cli(consumer, tmp_path)
    project = consumer.user.project_id
    name = f"osc-share-{uuid.uuid4().hex[:8]}"
    image_id = json.loads(osc("image", "create", "--file", str(raw_image.path),
                              "--disk-format", "raw", "--container-format", "bare", "--shared",
                              name, "-f", "json"))["id"]
    member = json.loads(osc("image", "add", "project", image_id, project, "-f", "json"))
    assert (member["member_id"], member["status"]) == (project, "pending")
    assert image_id in theirs("image", "list", "--member-status", "pending", "-f", "value",
                              "-c", "ID")
    theirs("image", "set", "--accept", image_id)
    assert image_id in theirs("image", "list", "--shared", "-f", "value", "-c", "ID")
    members = json.loads(osc("image", "member", "list", image_id, "-f", "json"))
    assert [(m["Member ID"], m["Status"]) for m in members] == [(project, "accepted")]
    out = tmp_path / "theirs.raw"
    theirs("image", "save", "--file", str(out), image_id)
    assert sha512_of(out) == raw_image.sha512
    denied = theirs.run("image", "set", "--property", "k=v", image_id, check=False)
    assert denied.returncode == 1 and "Traceback" not in denied.stderr
    assert "not permitted" in denied.stderr
    osc("image", "remove", "project", image_id, project)
    assert image_id not in theirs("image", "list", "-f", "value", "-c", "ID")
    osc("image", "delete", image_id)


def test_import_web_download(importer: CloudUser, web_image: WebImage, tmp_path: Path) -> None:
    """`openstack image import --method web-download` on a queued image; OSC prints the
    image as it was before the import, so the result is read back with `image show`."""
    osc = openstack_cli(importer, tmp_path)
    name = f"osc-web-{uuid.uuid4().hex[:8]}"
    # from a terminal: with stdin not a TTY, `image create` uploads stdin as the data
    created = osc.in_tty("image", "create", "--disk-format", "raw", "--container-format",
                         "bare", name, "-f", "value", "-c", "id")
    assert created.returncode == 0, created.stdout
    image_id = created.stdout.strip()
    osc("image", "import", "--method", "web-download", "--uri", web_image.url, image_id)

    def active() -> dict[str, object] | None:
        shown = json.loads(osc("image", "show", image_id, "-f", "json"))
        return shown if shown["status"] == "active" else None

    shown = poll(active, timeout=60, interval=0.5, what=f"image {image_id} active")
    assert shown["checksum"] == web_image.raw.md5
    assert shown["properties"]["os_hash_value"] == web_image.raw.sha512
    assert shown["size"] == len(web_image.raw.data)
    osc("image", "delete", image_id)
