"""What the benchmarks read off this machine: percentiles, a process's CPU time, the local store's process."""

from __future__ import annotations

import os
import re
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0 to 100) of the values, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU-seconds of a process so far, its waited-for children included (from /proc)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(f) for f in fields[11:15]) / CLOCK_TICKS


def store_pid(mongodb_url: str) -> int | None:
    """The local store's process (ferretdb-local listening on the URL's port), if it runs on this machine."""
    port = re.search(r":(\d+)", mongodb_url.split("//", 1)[-1])
    if port is None:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            argv
            and argv[0].endswith(b"ferretdb-local")
            and any(a.endswith(f":{port.group(1)}".encode()) for a in argv)
        ):
            return int(proc.name)
    return None
