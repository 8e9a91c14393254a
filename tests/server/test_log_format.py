"""One log format: uvicorn's lines through Strato's, and JSON lines on request."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from tests.harness import Server

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \d+ [A-Z]+ [\w.]+: ")


def log_lines(srv: Server) -> list[str]:
    """The server's log, less what the CLI prints itself (banner, first-start welcome)."""
    text = srv.log_path.read_text(errors="replace")
    return [line for line in text.splitlines()
            if line.strip() and not line.startswith((" ", "Strato ", "First start", "These ",
                                                     "Use the", "Or write", "In another"))]


def test_text_logs_have_one_format(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data", workers=2).start()
    try:
        httpx.get(f"{srv.url}/healthcheck?marker=text")
    finally:
        srv.stop()
    lines = log_lines(srv)
    assert any("uvicorn.error: Started server process" in line for line in lines), lines
    assert any("/healthcheck?marker=text" in line for line in lines)
    odd = [line for line in lines if not TEXT_LINE.match(line)]
    assert not odd, odd
    assert not any(line.startswith("INFO:") for line in lines)


def test_json_logs_one_object_per_line(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data", workers=2, extra_args=("--log-format", "json")).start()
    try:
        resp = httpx.get(f"{srv.url}/healthcheck?marker=json")
    finally:
        srv.stop()
    docs = [json.loads(line) for line in log_lines(srv)]  # every line parses
    for doc in docs:
        assert {"time", "level", "logger", "message", "pid"} <= doc.keys(), doc
    assert any(d["logger"] == "uvicorn.error" and "Started server process" in d["message"]
               for d in docs)
    access = [d for d in docs if d["logger"] == "strato.access" and d.get("query")]
    assert len(access) == 1, access
    line = access[0]
    assert line["method"] == "GET" and line["path"] == "/healthcheck"
    assert line["query"] == "?marker=json" and line["status"] == 200
    assert line["bytes"] == len(resp.content) and line["client"] == "127.0.0.1"
    assert line["trans_id"] == resp.headers["X-Trans-Id"] and line["seconds"] >= 0
