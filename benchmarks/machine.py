"""The machine a benchmark ran on, printed beside its figures so they can be compared."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """CPU model (from /proc/cpuinfo where there is one), core count and Python version, as one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
