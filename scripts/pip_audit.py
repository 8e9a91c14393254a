"""Known vulnerabilities in the installed environment (pip-audit), with the policy of
docs/security.md ("Dependency audit"): a known vulnerability in any installed package fails
CI unless `scripts/pip-audit-ignore.txt` lists its id with an expiry date still to come and a
reason. When the vulnerability database cannot be reached, or knows none of the installed
packages (a registry mirror without PyPI's JSON API), nothing was checked: say so plainly and
pass, since failing would block every change for a reason outside the project.

Usage: python scripts/pip_audit.py   (exit 0: clean or not checkable; 1: findings)
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

IGNORE_FILE = Path(__file__).with_name("pip-audit-ignore.txt")


def ignored(today: dt.date, path: Path = IGNORE_FILE) -> tuple[dict[str, str], list[str]]:
    """({id: reason} still in force, lines that have expired or are malformed)."""
    active: dict[str, str] = {}
    stale: list[str] = []
    if not path.exists():
        return active, stale
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split(None, 2)
        try:
            expires = dt.date.fromisoformat(parts[1])
        except (IndexError, ValueError):
            stale.append(f"malformed (want: ID YYYY-MM-DD reason): {line}")
            continue
        if len(parts) < 3:
            stale.append(f"no reason given: {line}")
        elif expires < today:
            stale.append(f"expired on {expires}: {line}")
        else:
            active[parts[0]] = parts[2]
    return active, stale


def judge(report: dict[str, Any], active: dict[str, str]) -> tuple[list[str], int]:
    """(lines to print, unignored findings) for pip-audit's JSON report."""
    deps = report.get("dependencies", [])
    audited = [d for d in deps if "skip_reason" not in d]
    if not audited:
        return [f"pip-audit: NOT CHECKED, the package index knows none of the {len(deps)} "
                "installed packages (a mirror without PyPI's JSON API); not failing CI for "
                "it (docs/security.md)"], 0
    lines: list[str] = []
    failures = 0
    for dep in audited:
        for vuln in dep.get("vulns", []):
            ids = {vuln["id"], *vuln.get("aliases", [])}
            reason = next((active[i] for i in sorted(ids) if i in active), None)
            fixes = ", ".join(vuln.get("fix_versions", [])) or "none yet"
            where = f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})"
            if reason is not None:
                lines.append(f"pip-audit: ignored {where}: {reason}")
            else:
                failures += 1
                lines.append(f"pip-audit: VULNERABLE {where}")
    skipped = len(deps) - len(audited)
    lines.append(f"pip-audit: {len(audited)} packages checked, {skipped} not known to the "
                 f"index, {failures} unignored finding(s)")
    return lines, failures


def main() -> int:
    proc = subprocess.run(
        [sys.executable, "-m", "pip_audit", "--local", "--format", "json",
         "--progress-spinner", "off"],
        capture_output=True, text=True, timeout=600, check=False)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"pip-audit: NOT CHECKED, the vulnerability database could not be reached "
              f"({last[:200]}); not failing CI for it (docs/security.md)")
        return 0
    active, stale = ignored(dt.date.today())
    for line in stale:
        print(f"pip-audit: ignore entry no longer honoured, {line}")
    lines, failures = judge(report, active)
    print("\n".join(lines))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
