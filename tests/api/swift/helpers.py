"""Small helpers for the Swift API tests: clients on the session server, unique names."""

from __future__ import annotations

import uuid

import httpx
import swiftclient


def uniq(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def conn(tester: tuple[str, str]) -> swiftclient.Connection:
    url, token = tester
    return swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)


def raw(tester: tuple[str, str]) -> httpx.Client:
    """An httpx client rooted at the storage URL, authenticated as the tester."""
    url, token = tester
    return httpx.Client(base_url=url + "/", headers={"X-Auth-Token": token}, timeout=30)


def new_container(tester: tuple[str, str], **headers: str) -> str:
    name = uniq()
    conn(tester).put_container(name, headers=headers or None)
    return name
