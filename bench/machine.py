"""A one-paragraph description of the machine and software a run happened on."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):  # noqa: SIM115 - short read
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _disk(path: str = "/") -> str:
    try:
        out = subprocess.run(["df", "-hT", path], capture_output=True, text=True, timeout=10)
        return " ".join(out.stdout.splitlines()[-1].split()[:3])
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def describe() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = ", ".join(f"{n} {_version(n)}" for n in
                         ("strato", "uvicorn", "uvloop", "httptools", "aiohttp"))
    return (f"machine: {os.cpu_count()} CPUs ({_cpu_model()}), {mem:.0f} GiB RAM, "
            f"disk {_disk()}, {platform.platform()}\n"
            f"python {platform.python_version()}; {versions}\n{load()}")


def load() -> str:
    """The machine is shared: say how busy it was, since absolute figures depend on it."""
    one, five, fifteen = os.getloadavg()
    return f"load average: {one:.1f} {five:.1f} {fifteen:.1f} (on {os.cpu_count()} CPUs)"
