"""Fixtures for the client's tests: a clean login environment (no OS_*/ST_* variables, no
clouds.yaml but the test's own) and the session server's credentials."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
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
