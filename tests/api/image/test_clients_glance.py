"""The `glance` CLI (python-glanceclient 4.13, API v2) as a shell user runs it: OS_* variables
from `strato cloud-config --env`, then one command after another, judged by what it prints and
its exit status. glanceclient validates the image and task documents against the server's
schemas, so every command that prints a table also checks the server's JSON shapes."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import openstack
import pytest
import swiftclient

from tests.api.image.conftest import (
    Cli,
    CloudUser,
    RawImage,
    WebImage,
    column,
    glance_cli,
    poll,
    sha512_of,
    table,
)


@pytest.fixture
def glance(owner: CloudUser, tmp_path: Path) -> Cli:
    return glance_cli(owner, tmp_path)


def _create(glance: Cli, raw: RawImage, name: str) -> dict[str, str]:
    shown = table(glance("image-create", "--file", str(raw.path), "--disk-format", "raw",
                         "--container-format", "bare", "--name", name))
    assert shown["status"] == "active", shown
    return shown


def _readable_failure(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit status 1 and a one-line message naming the problem, not a traceback."""
    rc, err = result.returncode, result.stderr
    assert rc == 1, (rc, err)
    assert "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def test_image_create_download_update_delete(glance: Cli, owner: CloudUser, raw_image: RawImage,
                                             tmp_path: Path) -> None:
    name = f"glance-{uuid.uuid4().hex[:8]}"
    shown = _create(glance, raw_image, name)
    image_id = shown["id"]
    assert shown["name"] == name
    assert shown["checksum"] == raw_image.md5
    assert shown["os_hash_algo"] == "sha512"
    assert shown["os_hash_value"] == raw_image.sha512
    assert shown["size"] == str(len(raw_image.data))
    assert shown["owner"] == owner.user.project_id
    assert (shown["disk_format"], shown["container_format"]) == ("raw", "bare")

    assert name in column(glance("image-list"), 1)

    out = tmp_path / "download.raw"
    glance("image-download", "--file", str(out), image_id)
    assert sha512_of(out) == raw_image.sha512

    updated = table(glance("image-update", "--property", "k=v", "--property", "os_distro=cirros",
                           image_id))
    assert (updated["k"], updated["os_distro"]) == ("v", "cirros")
    shown = table(glance("image-show", image_id))
    assert (shown["k"], shown["os_distro"]) == ("v", "cirros")
    assert shown["checksum"] == raw_image.md5

    removed = table(glance("image-update", "--remove-property", "k", image_id))
    assert "k" not in removed and removed["os_distro"] == "cirros"

    assert glance("image-delete", image_id) == ""
    _readable_failure(glance.run("image-show", image_id, check=False),
                      f"No image found with ID {image_id}")


def test_image_create_via_import(glance: Cli, raw_image: RawImage, tmp_path: Path) -> None:
    """glance-direct: stage + import; the client prints the image once it is active."""
    name = f"glance-import-{uuid.uuid4().hex[:8]}"
    # under `script`: glanceclient refuses --file when stdin is not a TTY (client quirk)
    result = glance.in_tty("image-create-via-import", "--file", str(raw_image.path),
                           "--disk-format", "raw", "--container-format", "bare",
                           "--name", name, "--import-method", "glance-direct")
    assert result.returncode == 0, result.stdout + result.stderr
    shown = table(result.stdout)
    assert shown["name"] == name
    assert shown["status"] == "active", shown
    assert shown["checksum"] == raw_image.md5
    assert shown["os_hash_value"] == raw_image.sha512
    image_id = shown["id"]
    assert "os_glance_import_task" not in shown
    out = tmp_path / "download.raw"
    glance("image-download", "--file", str(out), image_id)
    assert sha512_of(out) == raw_image.sha512
    tasks = glance("image-tasks", image_id)
    assert "success" in tasks
    glance("image-delete", image_id)


def test_image_create_via_import_web_download(importer: CloudUser, web_image: WebImage,
                                              tmp_path: Path) -> None:
    glance = glance_cli(importer, tmp_path)
    name = f"glance-web-{uuid.uuid4().hex[:8]}"
    # under `script`: with stdin not a TTY glanceclient refuses web-download ("cannot pass
    # data via stdin"), the same client quirk as for --file
    result = glance.in_tty("image-create-via-import", "--import-method", "web-download",
                           "--uri", web_image.url, "--disk-format", "raw",
                           "--container-format", "bare", "--name", name)
    assert result.returncode == 0, result.stdout + result.stderr
    shown = table(result.stdout)
    assert shown["status"] == "active", shown
    assert shown["checksum"] == web_image.raw.md5
    assert shown["os_hash_value"] == web_image.raw.sha512
    out = tmp_path / "download.raw"
    glance("image-download", "--file", str(out), shown["id"])
    assert sha512_of(out) == web_image.raw.sha512


def test_web_download_refused_is_readable(glance: Cli, web_image: WebImage) -> None:
    """The session server keeps the default filter: the client prints the image it created
    (queued) and then the server's reason, exit status 1."""
    name = f"glance-web-no-{uuid.uuid4().hex[:8]}"
    result = glance.in_tty("image-create-via-import", "--import-method", "web-download",
                           "--uri", web_image.url, "--disk-format", "raw",
                           "--container-format", "bare", "--name", name)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout
    assert "Import URI refused" in result.stdout
    image_id = table(result.stdout)["id"]
    assert table(glance("image-show", image_id))["status"] == "queued"
    glance("image-delete", image_id)


def test_members_share_and_accept(glance: Cli, owner: CloudUser, consumer: CloudUser,
                                  raw_image: RawImage, tmp_path: Path) -> None:
    theirs = glance_cli(consumer, tmp_path)
    member = consumer.user.project_id
    image_id = _create(glance, raw_image, f"glance-shared-{uuid.uuid4().hex[:8]}")["id"]

    # before the share the other project does not even see the image
    _readable_failure(theirs.run("image-show", image_id, check=False), "No image found")

    created = glance("member-create", image_id, member)
    assert member in created and "pending" in created
    listed = glance("member-list", "--image-id", image_id)
    assert (column(listed, 1), column(listed, 2)) == ([member], ["pending"])

    def shared(status: str) -> list[str]:
        return column(theirs("image-list", "--visibility", "shared", "--member-status",
                             status))

    assert image_id in shared("pending")
    assert image_id not in column(theirs("image-list"))  # pending: not in the default list

    # only the member itself accepts
    _readable_failure(glance.run("member-update", image_id, member, "accepted", check=False),
                      "not permitted")
    updated = theirs("member-update", image_id, member, "accepted")
    assert "accepted" in updated
    assert image_id in shared("accepted")
    assert image_id in column(theirs("image-list"))

    out = tmp_path / "theirs.raw"
    theirs("image-download", "--file", str(out), image_id)
    assert sha512_of(out) == raw_image.sha512
    # a member reads, it does not write
    _readable_failure(theirs.run("image-update", "--property", "k=v", image_id, check=False),
                      "not permitted")

    glance("member-delete", image_id, member)
    _readable_failure(theirs.run("image-show", image_id, check=False), "No image found")
    glance("image-delete", image_id)


def _task_create(glance: Cli, import_from: str, name: str) -> dict[str, str]:
    task_input = {"import_from": import_from, "import_from_format": "raw",
                  "image_properties": {"name": name, "disk_format": "raw",
                                       "container_format": "bare"}}
    created = table(glance("task-create", "--type", "import", "--input",
                           json.dumps(task_input)))
    assert created["type"] == "import"
    assert created["status"] in ("pending", "processing", "success", "failure")
    return created


def _task_done(glance: Cli, task_id: str) -> dict[str, str]:
    def finished() -> dict[str, str] | None:
        shown = table(glance("task-show", task_id))
        return shown if shown["status"] in ("success", "failure") else None
    return poll(finished, timeout=60, interval=0.5, what=f"task {task_id}")


def test_task_import_from_own_object(glance: Cli, conn: openstack.connection.Connection,
                                     raw_image: RawImage) -> None:
    """The legacy tasks API with `import_from` = container/object of the caller's account
    (uploaded first with swiftclient, with the caller's token)."""
    url = conn.object_store.get_endpoint()
    token = conn.auth_token
    container, obj = f"staging-{uuid.uuid4().hex[:8]}", "disk.raw"
    swiftclient.put_container(url, token, container)
    etag = swiftclient.put_object(url, token, container, obj, contents=raw_image.data,
                                  content_type="application/octet-stream")
    assert etag == raw_image.md5

    name = f"glance-task-{uuid.uuid4().hex[:8]}"
    task = _task_create(glance, f"{container}/{obj}", name)
    done = _task_done(glance, task["id"])
    assert done["status"] == "success", done
    assert done["expires_at"] not in ("", "None")
    image_id = json.loads(done["result"])["image_id"]
    shown = table(glance("image-show", image_id))
    assert shown["name"] == name
    assert shown["status"] == "active"
    assert shown["checksum"] == raw_image.md5
    assert shown["os_hash_value"] == raw_image.sha512

    # a task whose source is missing fails with a message, and leaves no image behind
    failed = _task_done(glance, _task_create(glance, f"{container}/missing.raw",
                                             f"{name}-missing")["id"])
    assert failed["status"] == "failure"
    assert "not found" in failed["message"]
    assert f"{name}-missing" not in column(glance("image-list"), 1)

    # task-list pages follow the `next` link: filters and sort must survive in it
    every = glance("task-list")
    assert {task["id"], failed["id"]} <= set(column(every))
    failures = glance("task-list", "--status", "failure", "--page-size", "1")
    assert set(column(failures, 2)) == {"failure"}
    assert set(column(failures)) == {i for i, s in zip(column(every), column(every, 2),
                                                       strict=True) if s == "failure"}
    by_type = glance("task-list", "--sort-key", "type", "--sort-dir", "asc", "--page-size", "1")
    assert sorted(column(by_type)) == sorted(column(every))
    assert column(by_type, 1) == sorted(column(by_type, 1))

    glance("image-delete", image_id)
    swiftclient.delete_object(url, token, container, obj)
    swiftclient.delete_container(url, token, container)


def test_task_import_from_url(importer: CloudUser, web_image: WebImage,
                              tmp_path: Path) -> None:
    """The tasks API with an http:// `import_from` (what real Glance expects)."""
    glance = glance_cli(importer, tmp_path)
    name = f"glance-task-web-{uuid.uuid4().hex[:8]}"
    done = _task_done(glance, _task_create(glance, web_image.url, name)["id"])
    assert done["status"] == "success", done
    shown = table(glance("image-show", json.loads(done["result"])["image_id"]))
    assert (shown["name"], shown["status"]) == (name, "active")
    assert shown["os_hash_value"] == web_image.raw.sha512


def test_errors_are_readable(glance: Cli) -> None:
    missing = str(uuid.uuid4())
    _readable_failure(glance.run("--os-image-api-version", "2", "image-show", missing,
                                 check=False), f"No image found with ID {missing}")
    _readable_failure(glance.run("image-download", "--file", "x.raw", missing, check=False),
                      "No image found")
    _readable_failure(glance.run("task-show", missing, check=False), "not found")
    deleted = glance.run("image-delete", missing, check=False)
    assert deleted.returncode == 1 and "Traceback" not in deleted.stderr
    assert missing in deleted.stderr
    # an administrator-only action, as a member: 403, readable. The image is created from
    # a terminal: with stdin not a TTY, glanceclient would upload stdin as the image data.
    created = glance.in_tty("image-create", "--name", f"glance-q-{uuid.uuid4().hex[:8]}",
                            "--disk-format", "raw", "--container-format", "bare")
    assert created.returncode == 0, created.stdout
    image_id = table(created.stdout)["id"]
    assert table(created.stdout)["status"] == "queued"
    _readable_failure(glance.run("image-deactivate", image_id, check=False),
                      "not authorized")
    _readable_failure(glance.run("image-update", "--visibility", "public", image_id,
                                 check=False), "not authorized")
    assert table(glance("image-show", image_id))["status"] == "queued"
    glance("image-delete", image_id)
