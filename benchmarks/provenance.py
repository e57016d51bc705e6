"""Where a benchmark result came from: the command, the date, the machine; written and printed.

Every results file under ``benchmarks/results/`` opens with the command that produced it, when
and on what it ran, so that a figure can be reproduced and compared with its baseline.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.isolation import isolated

__all__ = ["command", "machine", "publish", "when"]


def command(module: str, argv: Sequence[str] | None) -> str:
    """The command line that ran ``module`` with ``argv`` (the process's own arguments when None)."""
    args = list(argv) if argv is not None else sys.argv[1:]
    return " ".join(["python -m", module, *args])


def when() -> str:
    """The current time in UTC, to the minute."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def machine(*, load: bool = False) -> str:
    """The architecture, cores and Python; with ``load``, the load average now and real-time scheduling."""
    parts = [platform.machine(), f"{os.cpu_count()} cores", f"Python {platform.python_version()}"]
    if load:
        parts.append(f"load average {os.getloadavg()[0]:.1f} at the end")
    if isolated():
        parts.append("real-time scheduling, --isolate")
    return ", ".join(parts)


def publish(text: str, output: Path | str | None) -> None:
    """Print ``text`` and, when ``output`` is given, write it there."""
    if output is not None:
        Path(output).write_text(text)
    print(text)
