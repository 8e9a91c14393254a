"""The first five minutes: which commands create a data directory, what the others say when
pointed at the wrong one, and start-up failures as one line each (issue 15)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from tests import pg
from tests.harness import Server, free_port

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path, timeout: float = 60, metadata: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    """`strato ARGS` exactly as typed (no --data-dir added), from `cwd`; `metadata`: the
    data directory's STRATO_METADATA (pg.metadata_env) when it is shared with a Server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATO_")}
    env.update(metadata or {})
    return subprocess.run([sys.executable, "-m", "strato", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


ADMIN_COMMANDS = [
    ("user", "list"), ("user", "add", "--user", "u", "--password", "p"),
    ("user", "add", "--user", "u"),  # refused before it prompts for a password
    ("user", "passwd", "--user", "admin", "--generate"), ("project", "list"),
    ("role", "list"), ("app-credential", "list", "--user", "demo"),
    ("access-key", "list", "--user", "demo"), ("image-admin", "list"),
    ("cloud-config", "--user", "demo", "--project", "demo"),
]


@pytest.mark.parametrize("index", range(len(ADMIN_COMMANDS)),
                         ids=["-".join(c[:2]) for c in ADMIN_COMMANDS])
def test_admin_commands_refuse_a_directory_that_is_not_one(tmp_path: Path, index: int) -> None:
    """Each command once, in turn with each way of missing (one check path serves them)."""
    command = ADMIN_COMMANDS[index]
    missing = tmp_path / "no" / "such" / "dir"
    empty = tmp_path / "empty"
    empty.mkdir()
    variant = index % 3
    if variant == 0:  # from a directory without ./strato-data: the default is not created
        line = one_line_error(run(*command, cwd=tmp_path))
        assert "strato-data is not a Strato data directory" in line
    elif variant == 1:  # a mistyped --data-dir
        line = one_line_error(run(*command, "--data-dir", str(missing), cwd=tmp_path))
        assert str(missing) in line
    else:  # an empty directory is not one either, and gets no database
        line = one_line_error(run(*command, "--data-dir", str(empty), cwd=tmp_path))
        assert str(empty) in line
    assert "strato init" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
    assert list(empty.iterdir()) == []


def test_init_prints_credentials_and_passwd_generate_resets_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    metadata = pg.metadata_env(data)
    created = run("init", "--data-dir", str(data), cwd=tmp_path, metadata=metadata)
    assert created.returncode == 0, created.stderr
    passwords = dict(re.findall(r"(admin|demo) user:\s+\S+\s+password: (\S+)", created.stdout))
    assert set(passwords) == {"admin", "demo"}
    again = run("init", "--data-dir", str(data), cwd=tmp_path, metadata=metadata)
    assert again.returncode == 4 and "already" in one_line_error(again)
    assert "password" not in again.stdout

    srv = Server(data, workers=1).start()
    try:
        assert not srv.passwords, "a second creator printed passwords"
        assert httpx.get(f"{srv.url}/auth/v1.0", headers={
            "X-Auth-User": "demo:demo", "X-Auth-Key": passwords["demo"]}).status_code == 200
        reset = run("user", "passwd", "--user", "demo", "--generate", "--data-dir", str(data),
                    cwd=tmp_path, metadata=metadata)
        assert reset.returncode == 0, reset.stderr
        new = reset.stdout.strip()
        assert new and new != passwords["demo"] and not new.startswith("-")
        for key, status in ((passwords["demo"], 401), (new, 200)):
            assert httpx.get(f"{srv.url}/auth/v1.0", headers={
                "X-Auth-User": "demo:demo", "X-Auth-Key": key}).status_code == status
        # cloud-config for someone who does not exist: refused, nothing on stdout
        for who in (("--user", "nobody", "--project", "demo"),
                    ("--user", "demo", "--project", "nowhere")):
            refused = run("cloud-config", *who, "--data-dir", str(data), cwd=tmp_path,
                          metadata=metadata)
            assert refused.returncode == 3 and refused.stdout == ""
            assert who[1] in one_line_error(refused) or who[3] in refused.stderr
        ok = run("cloud-config", "--user", "demo", "--project", "demo", "--data-dir",
                 str(data), cwd=tmp_path, metadata=metadata)
        assert ok.returncode == 0 and "auth_url" in ok.stdout
    finally:
        srv.stop()


def test_serve_creates_the_default_directory_and_prints_credentials(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATO_")}
    proc = subprocess.Popen([sys.executable, "-m", "strato", "serve", "--port", str(port),
                             "--workers", "1"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            out += line
            if "serving http" in line:
                break
        assert re.search(r"demo user:\s+demo\s+password: \S+", out), out
        assert (tmp_path / "strato-data" / "metadata.db").is_file()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    listed = run("user", "list", cwd=tmp_path)  # now the default directory is one
    assert listed.returncode == 0 and "demo" in listed.stdout


def _in_use() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


def test_startup_failures_are_one_line(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory\n")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "metadata.db").write_bytes(os.urandom(8192))
    good = tmp_path / "good"
    holder, busy = _in_use()
    cases = {
        "port": (("--port", "70000"), "port"),
        "port-zero": (("--port", "0"), "port"),
        "workers": (("--workers", "-3"), "workers"),
        "data-dir-file": (("--data-dir", str(a_file)), "not a directory"),
        "corrupt-db": (("--data-dir", str(corrupt)), "metadata.db"),
        "missing-config": (("--config", str(tmp_path / "nope.toml")), "nope.toml"),
        "log-level": (("--log-level", "loud"), "log_level"),
        "in-use": (("--data-dir", str(good), "--port", str(busy)), "already in use"),
    }
    try:
        for name, (args, expected) in cases.items():
            result = run("serve", *args, cwd=tmp_path)
            line = one_line_error(result)
            assert expected in line, (name, line)
            assert "serving" not in result.stdout + result.stderr, name  # before the banner
            assert "password" not in result.stdout, name
    finally:
        holder.close()
    assert not good.exists(), "a refused start created its data directory"
    assert not (tmp_path / "strato-data").exists()
    env_config = subprocess.run(
        [sys.executable, "-m", "strato", "serve"], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, env={**os.environ, "STRATO_CONFIG": str(tmp_path / "gone.toml")})
    assert "gone.toml" in one_line_error(env_config)


def test_help_and_description_say_what_it_does() -> None:
    result = subprocess.run([sys.executable, "-m", "strato", "--help"], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "COLUMNS": "200"})
    text = " ".join(result.stdout.split())
    for words in ("object storage with the Swift v1 API", "Keystone identity",
                  "Glance v2 images", "client for it and for any Swift/OpenStack cloud",
                  "strato serve", "Client commands", "Server commands"):
        assert words in text, words
    assert {"serve", "init", "user", "project", "image", "image-admin", "cloud-config",
            "upload", "download", "sync"} <= set(
        re.findall(r"^  ([a-z-]+)", result.stdout, re.M))
    description = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["description"]
    for words in ("object storage", "identity", "images"):
        assert words in description, words


def test_readme_documents_the_v1_lockout() -> None:
    readme = " ".join((ROOT / "README.md").read_text().split())
    at = readme.index("429 with `Retry-After`")
    assert "Swift v1.0 auth" in readme[at:at + 200]
