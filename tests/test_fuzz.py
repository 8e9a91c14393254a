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
SEED = os.environ.get("STRATO_FUZZ_SEED", "1")
"""Fixed, so CI explores the same inputs every run (a slower machine a prefix of them); new
ground is for the longer, randomly seeded runs docs/reliability.md gives."""


def test_every_target_runs_a_bounded_time_without_a_crash() -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}
    env.pop("STRATO_METADATA", None)
    proc = subprocess.run([sys.executable, "-m", "fuzz.run", "--seconds", str(SECONDS),
                           "--seed", SEED],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
                          check=False)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    counts = dict(re.findall(r"^(\w+)\s+([\d,]+) executions$", proc.stdout, re.M))
    assert set(counts) == set(NAMES)
    assert all(int(n.replace(",", "")) > 0 for n in counts.values()), counts



REGRESSIONS = ROOT / "fuzz" / "regressions"
"""Inputs a fuzzer found that once raised, each named `<target>-<what it was>`; every one
is replayed through its target on every run."""


def test_every_input_that_once_crashed_now_passes() -> None:
    found = sorted(REGRESSIONS.iterdir())
    assert found, "no regression inputs: the directory moved?"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}
    env.pop("STRATO_METADATA", None)
    for path in found:
        target = path.name.split("-", 1)[0]
        assert target in NAMES, path.name
        proc = subprocess.run([sys.executable, "-m", "fuzz.run", "--replay", target, str(path)],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
                              check=False)
        assert proc.returncode == 0, f"{path.name}:\n{proc.stdout}{proc.stderr[-3000:]}"
        assert f"{target}: {path} passes" in proc.stdout
