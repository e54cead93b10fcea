"""Describe the machine a benchmark ran on, for docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
from importlib.metadata import version


def describe() -> dict[str, str]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = "unknown"
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f"{pages / 2**30:.0f} GiB"
    except (ValueError, OSError):
        pass
    packages = ", ".join(
        f"{name} {version(name)}" for name in ("pyarrow", "pyiceberg", "deltalake", "duckdb")
    )
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": packages,
    }


def markdown(machine: dict[str, str]) -> str:
    return (
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory']}, "
        f"{machine['os']}, Python {machine['python']} ({machine['packages']})."
    )
