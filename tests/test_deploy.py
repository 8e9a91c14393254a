"""The deployment artefacts in deploy/: the systemd unit passes systemd's own checks with a
low exposure score, and the container image builds, runs as a non-root user with its data
on the volume, and answers its health check, where a container engine can run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import free_port

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "strato.service"
CONTAINERFILE = ROOT / "deploy" / "Containerfile"
MAX_EXPOSURE = 2.0
"""systemd-analyze's exposure score (0 safest, 10 unprotected); 'OK' is below 4.5."""


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    """The unit with ExecStart pointed at this environment's `strato` (verify checks that
    the program exists)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    strato = Path(sys.executable).parent / "strato"
    assert strato.exists(), "install the project (pip install -e .) first"
    text = UNIT.read_text().replace("/opt/strato/bin/strato", str(strato))
    copy = tmp_path / "strato.service"
    copy.write_text(text)
    return copy


def test_systemd_unit_verifies(unit: Path) -> None:
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_systemd_unit_is_hardened(unit: Path) -> None:
    text = UNIT.read_text()
    for line in ("User=strato", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "ProtectHome=yes", "PrivateTmp=yes", "CapabilityBoundingSet=\n"):
        assert line in text
    done = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)],
                          capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", done.stdout)
    assert match, done.stdout + done.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, done.stdout


def _engine() -> str:
    """A container engine that runs here, or skip saying why none does."""
    reasons = []
    for name in ("podman", "docker"):
        if shutil.which(name) is None:
            reasons.append(f"{name}: not installed")
            continue
        done = subprocess.run([name, "info"], capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            return name
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        reasons.append(f"{name}: {last}")
    pytest.skip("no container engine can run here (" + "; ".join(reasons) + ")")
    raise AssertionError("unreachable")


@pytest.fixture
def image() -> Iterator[tuple[str, str]]:
    engine = _engine()
    base = re.search(r"^FROM (\S+)", CONTAINERFILE.read_text(), re.M)
    assert base
    if subprocess.run([engine, "image", "inspect", base.group(1)], capture_output=True,
                      timeout=60).returncode != 0:
        pulled = subprocess.run([engine, "pull", base.group(1)], capture_output=True,
                                text=True, timeout=600)
        if pulled.returncode != 0:
            pytest.skip(f"the base image {base.group(1)} cannot be fetched here: "
                        f"{pulled.stderr.strip()[-300:]}")
    tag = f"strato-test:{uuid.uuid4().hex[:8]}"
    subprocess.run([engine, "build", "-f", str(CONTAINERFILE), "-t", tag, str(ROOT)],
                   check=True, timeout=1200)
    try:
        yield engine, tag
    finally:
        subprocess.run([engine, "rmi", "-f", tag], capture_output=True, timeout=120)


def test_container_runs_as_non_root_with_data_on_its_volume(image: tuple[str, str]) -> None:
    engine, tag = image
    name, volume, port = f"strato-{uuid.uuid4().hex[:8]}", f"strato-{uuid.uuid4().hex[:8]}", \
        free_port()
    subprocess.run([engine, "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080",
                    "-v", f"{volume}:/var/lib/strato", "-e", "STRATO_WORKERS=1", tag],
                   check=True, capture_output=True, timeout=120)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, subprocess.run(
                [engine, "logs", name], capture_output=True, text=True).stdout
            time.sleep(1)
        uid = subprocess.run([engine, "exec", name, "id", "-u"], capture_output=True,
                             text=True, check=True).stdout.strip()
        assert uid != "0"
        files = subprocess.run([engine, "exec", name, "ls", "/var/lib/strato"],
                               capture_output=True, text=True, check=True).stdout.split()
        assert "metadata.db" in files
        logs = subprocess.run([engine, "logs", name], capture_output=True, text=True).stdout
        password = re.search(r"demo user:\s+demo\s+password: (\S+)", logs)
        assert password, logs
        auth = httpx.get(f"http://127.0.0.1:{port}/auth/v1.0",
                         headers={"X-Auth-User": "demo:demo", "X-Auth-Key": password.group(1)})
        assert auth.status_code == 200
        health = subprocess.run([engine, "inspect", "--format",
                                 "{{json .Config.Healthcheck}}", name],
                                capture_output=True, text=True, check=True).stdout
        assert "/ready" in health
    finally:
        subprocess.run([engine, "rm", "-f", name], capture_output=True, timeout=120)
        subprocess.run([engine, "volume", "rm", "-f", volume], capture_output=True,
                       timeout=120)
