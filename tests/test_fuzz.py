"""The fuzz harnesses (fuzz/) in CI: a bounded run of every target in a subprocess. An input
a fuzzer finds that makes a target raise becomes a regression test next to the parser's own
tests (docs/reliability.md, "Hostile input")."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from fuzz.run import NAMES

ROOT = Path(__file__).parents[1]
SECONDS = int(os.environ.get("STRATO_FUZZ_SECONDS", "4"))
"""Per target; the ten run in one process, so about 40 s of fuzzing plus the start."""


def test_every_target_runs_a_bounded_time_without_a_crash() -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}
    env.pop("STRATO_METADATA", None)
    proc = subprocess.run([sys.executable, "-m", "fuzz.run", "--seconds", str(SECONDS)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
                          check=False)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    counts = dict(re.findall(r"^(\w+)\s+([\d,]+) executions$", proc.stdout, re.M))
    assert set(counts) == set(NAMES)
    assert all(int(n.replace(",", "")) > 0 for n in counts.values()), counts

