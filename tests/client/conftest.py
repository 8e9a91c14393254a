"""Fixtures for the client's tests: a clean login environment (no OS_*/ST_* variables, no
clouds.yaml but the test's own), the session server's credentials for the SDK, and the real
`strato` executable (`python -m strato`) in a subprocess, logged in through `OS_*` variables
as `test:tester` of the session server, for the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.harness import Server

T = TypeVar("T")


@pytest.fixture(autouse=True)
def clean_login_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test starts where a user with no cloud configuration would."""
    for name in list(os.environ):
        if name.startswith(("OS_", "ST_")):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture(scope="module")
def keystone(server: Server) -> dict[str, str]:
    """clouds.yaml-style login of test:tester (an admin of project `test`)."""
    return {"auth_url": server.url + "/identity", "username": "tester", "password": "testing",
            "project_name": "test", "user_domain_name": "Default",
            "project_domain_name": "Default"}


def arun(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


TIMEOUT = 120


def clean_environ(home: Path) -> dict[str, str]:
    """This process's environment without any login of its own (`OS_*`, `ST_*`) and with a
    home of its own (no clouds.yaml of the machine's user)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ST_"))}
    env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                "COLUMNS": "120"})
    return env


def login_environ(server: Server, password: str = "testing") -> dict[str, str]:
    return {"OS_AUTH_URL": server.url + "/identity", "OS_USERNAME": "tester",
            "OS_PASSWORD": password, "OS_PROJECT_NAME": "test",
            "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default"}


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class CLI:
    """`cli("list", "photos")` runs `strato list photos` in `cwd` and returns its result."""

    env: dict[str, str]
    cwd: Path

    def __call__(self, *args: str, ok: bool = True, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> Result:
        done = subprocess.run([sys.executable, "-m", "strato", *args], capture_output=True,
                              text=True, timeout=TIMEOUT, cwd=cwd or self.cwd,
                              env={**self.env, **(env or {})})
        result = Result(done.returncode, done.stdout, done.stderr)
        if ok:
            assert result.code == 0, f"strato {' '.join(args)} -> {result.code}\n{result.err}"
        assert "Traceback" not in result.err, result.err
        return result


@pytest.fixture
def cli(server: Server, tmp_path: Path) -> CLI:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    work = tmp_path / "work"
    work.mkdir()
    return CLI({**clean_environ(home), **login_environ(server)}, work)


@pytest.fixture
def name() -> Callable[[str], str]:
    """Unique container names, so tests share the session server without meeting."""
    def make(stem: str = "c") -> str:
        return f"{stem}-{uuid.uuid4().hex[:10]}"
    return make


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.fixture
def fresh_account(server: Server, cli: CLI) -> CLI:
    """A project of its own, so --all sees only what the test made."""
    project = f"p{uuid.uuid4().hex[:8]}"
    user = f"owner-{project}"   # the session server is shared: a user of its own too
    server.add_user(project, user, "owner-pass-1", role="admin")
    return CLI({**cli.env, "OS_PROJECT_NAME": project, "OS_USERNAME": user,
                "OS_PASSWORD": "owner-pass-1"}, cli.cwd)
