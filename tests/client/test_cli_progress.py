"""Progress bars as a person sees them: `strato upload` in a pseudo-terminal draws bars and
ends on a finished total line; with stderr a pipe, or with --quiet, nothing is drawn."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable

from tests.client.conftest import CLI

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_terminal(cli: CLI, *args: str) -> tuple[int, str, str]:
    """Run strato with stderr on a pty (stdout a pipe, as `strato ... > file` would be);
    return the exit code, stdout, and what the terminal showed."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "strato", *args], cwd=cli.cwd, stdout=subprocess.PIPE,
        stderr=slave, stdin=subprocess.DEVNULL,
        env={**cli.env, "TERM": "xterm-256color", "COLUMNS": "120"})
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        elif process.poll() is not None:
            break
    os.close(master)
    assert process.stdout is not None
    out = process.stdout.read().decode()
    return process.wait(timeout=30), out, screen.decode("utf-8", "replace")


def test_upload_in_a_terminal_draws_bars_that_end_cleanly(
        cli: CLI, name: Callable[[str], str]) -> None:
    (cli.cwd / "a.bin").write_bytes(os.urandom(3 * 2**20))
    (cli.cwd / "b.bin").write_bytes(os.urandom(2 * 2**20))
    code, out, screen = run_in_terminal(cli, "upload", name("tty"), "a.bin", "b.bin",
                                        "--segment-size", "1M", "--segment-threads", "2")
    assert code == 0, screen
    assert out.split() == ["a.bin", "b.bin"]  # results on stdout, not in the bars
    text = ANSI.sub("", screen)
    assert "Traceback" not in text
    assert "━" in text  # a bar was drawn
    assert "a.bin" in text  # with a bar of its own for a file in flight
    final = [line for line in re.split(r"[\r\n]", text) if line.strip()][-1]
    assert final.startswith("done 2/2 files"), final
    assert "100%" in final and "5.0/5.0 MiB" in final


def test_no_bars_without_a_terminal_or_with_quiet(cli: CLI, name: Callable[[str], str]) -> None:
    (cli.cwd / "a.bin").write_bytes(os.urandom(2**20))
    piped = cli("upload", name("pipe"), "a.bin")
    assert piped.err == "" and piped.out == "a.bin\n"
    code, out, screen = run_in_terminal(cli, "upload", name("quiet"), "a.bin", "--quiet")
    assert code == 0 and out == "" and screen == ""
