"""The access log: one line per response, secrets redacted, none lost at a clean stop.

Lines are written at the end of the event-loop turn that produced them (just after the
response went out, as before), never held back for a timer; a clean stop writes any still
pending.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.api.swift.helpers import uniq
from tests.harness import Server, in_process_server

LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\d+) INFO strato\.access: "
    r'127\.0\.0\.1 "(\w+) (\S+)" (\d{3}) (\d+) \d+\.\d{4} (tx[0-9a-f]{21}-[0-9a-f]{10})$')
SECRETS = "temp_url_sig=s3cr3t-sig&temp_url_expires=1&signature=s3cr3t-other&a=1"
REDACTED = "temp_url_sig=***&temp_url_expires=1&signature=***&a=1"
PROMPT_SECONDS = 2.0
"""Longer than any event-loop turn, far shorter than a buffering timer would be."""


def access_lines(server: Server, marker: str) -> list[re.Match[str]]:
    found = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        if "strato.access" in line and marker in line:
            match = LINE.match(line)
            assert match, line
            found.append(match)
    return found


def soon(server: Server, marker: str, count: int) -> list[re.Match[str]]:
    """The access lines holding `marker` once there are `count` of them (the server logs
    a response just after sending it, so the client may read the log first)."""
    deadline = time.monotonic() + PROMPT_SECONDS
    while len(lines := access_lines(server, marker)) < count:
        assert time.monotonic() < deadline, f"{len(lines)} of {count} lines"
        time.sleep(0.01)
    return lines


def test_each_response_is_logged_promptly_with_secrets_redacted(make_server: Any) -> None:
    server: Server = make_server()
    marker = uniq()
    with httpx.Client() as http:
        got = http.get(f"{server.url}/v1/AUTH_{marker}/c/o?{SECRETS}")
        assert got.status_code == 401
        lines = soon(server, marker, 1)
        assert len(lines) == 1
        assert lines[0].group(2, 3, 4) == ("GET", f"/v1/AUTH_{marker}/c/o?{REDACTED}", "401")
        assert lines[0].group(6) == got.headers["X-Trans-Id"]
        head = http.head(f"{server.url}/v1/AUTH_{marker}")
        assert [m.group(2, 3, 4, 5, 6) for m in soon(server, marker, 2)][1] == (
            "HEAD", f"/v1/AUTH_{marker}", str(head.status_code), "0",
            head.headers["X-Trans-Id"])
    assert "s3cr3t" not in server.log_path.read_text(errors="replace")


def test_no_line_is_lost_at_a_clean_stop(make_server: Any) -> None:
    server: Server = make_server(workers=2)
    marker = uniq()

    def one(i: int) -> str:
        with httpx.Client() as http:  # a connection each, so both workers serve
            return http.head(f"{server.url}/v1/AUTH_{marker}/c/{i}").headers["X-Trans-Id"]

    with ThreadPoolExecutor(16) as pool:
        trans_ids = set(pool.map(one, range(400)))
    server.stop()  # SIGTERM right after the last answer
    lines = access_lines(server, marker)
    assert len(lines) == 400
    assert {m.group(6) for m in lines} == trans_ids
    assert len({m.group(1) for m in lines}) == 2, "requests did not reach both workers"


def test_access_log_can_be_turned_off(make_server: Any) -> None:
    server: Server = make_server(env={"STRATO_ACCESS_LOG": "false"})
    marker = uniq()
    assert httpx.head(f"{server.url}/v1/AUTH_{marker}").status_code == 401
    server.stop()
    assert access_lines(server, marker) == []


@pytest.fixture
def in_process(make_server: Any, caplog: pytest.LogCaptureFixture) -> Iterator[str]:
    """The origin of a server running in this process, where logging is configured by the
    test runner rather than by Strato: access lines must then go through `logging`."""
    caplog.set_level(logging.INFO, logger="strato.access")
    prepared: Server = make_server()
    prepared.stop()
    with in_process_server(prepared.data_dir) as origin:
        yield origin


def test_another_logging_setup_gets_every_line_through_logging(
        in_process: str, caplog: pytest.LogCaptureFixture) -> None:
    marker = uniq()
    got = httpx.get(f"{in_process}/v1/AUTH_{marker}/c/o?{SECRETS}")
    assert got.status_code == 401
    records = [r for r in caplog.records if r.name == "strato.access" and marker in
               r.getMessage()]
    assert [r.getMessage() for r in records] == [
        f'127.0.0.1 "GET /v1/AUTH_{marker}/c/o?{REDACTED}" 401 '
        f'{records[0].args[5]} {records[0].args[6]:.4f} {got.headers["X-Trans-Id"]}']
