"""The dependency-audit policy of docs/security.md, on pip-audit reports made up here: a
finding fails CI unless an unexpired, reasoned ignore entry names it (or an alias of it)."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "pip_audit.py"


@pytest.fixture(scope="module")
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pip_audit_policy", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REPORT = {"dependencies": [
    {"name": "good", "version": "1.0", "vulns": []},
    {"name": "bad", "version": "2.0", "vulns": [
        {"id": "PYSEC-2099-1", "aliases": ["CVE-2099-1"], "fix_versions": ["2.1"]}]},
    {"name": "mirror-only", "skip_reason": "Dependency not found on PyPI"},
]}


def test_a_finding_fails(audit: ModuleType) -> None:
    lines, failures = audit.judge(REPORT, {})
    assert failures == 1
    assert "pip-audit: VULNERABLE bad 2.0: PYSEC-2099-1 (fixed in 2.1)" in lines
    assert lines[-1].startswith("pip-audit: 2 packages checked, 1 not known")


def test_an_ignore_entry_in_force_passes_and_says_why(audit: ModuleType,
                                                      tmp_path: Path) -> None:
    entries = tmp_path / "ignore.txt"
    entries.write_text("# comment\nCVE-2099-1 2030-01-01 reached only through X\n"
                       "GHSA-old 2020-01-01 was fixed upstream\nGHSA-why 2030-01-01\n")
    active, stale = audit.ignored(dt.date(2026, 12, 3), entries)
    assert active == {"CVE-2099-1": "reached only through X"}
    assert [s.split(":")[0] for s in stale] == ["expired on 2020-01-01", "no reason given"]
    lines, failures = audit.judge(REPORT, active)
    assert failures == 0
    assert any("ignored bad 2.0: PYSEC-2099-1" in line and "reached only through X" in line
               for line in lines)


def test_an_expired_entry_fails_again(audit: ModuleType, tmp_path: Path) -> None:
    entries = tmp_path / "ignore.txt"
    entries.write_text("PYSEC-2099-1 2026-12-02 waiting for 2.1\n")
    active, stale = audit.ignored(dt.date(2026, 12, 3), entries)
    assert active == {} and len(stale) == 1
    assert audit.judge(REPORT, active)[1] == 1


def test_nothing_checkable_passes_with_a_clear_reason(audit: ModuleType) -> None:
    lines, failures = audit.judge({"dependencies": [REPORT["dependencies"][2]]}, {})
    assert failures == 0
    assert lines == [line for line in lines if "NOT CHECKED" in line] and lines
