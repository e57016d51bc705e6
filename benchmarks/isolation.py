"""``--isolate``: run a benchmark under real-time scheduling on a shared machine.

Under ``SCHED_FIFO`` the benchmark process and every process it starts (the broker, the
workers, the sidecar) run before any ordinary process on the machine, so other work's
scheduling delays do not enter latencies and rates; cache and memory-bandwidth contention
still do. Needs root or ``CAP_SYS_NICE``. Results files say when it was on.
"""

from __future__ import annotations

import os

__all__ = ["isolate", "isolated"]


def isolate(priority: int = 20) -> None:
    """Real-time scheduling for this process and every child it starts from now on."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except PermissionError:
        raise SystemExit("--isolate needs the right to real-time scheduling (root or CAP_SYS_NICE)") from None


def isolated() -> bool:
    """Whether this process runs under real-time scheduling."""
    return os.sched_getscheduler(0) in (os.SCHED_FIFO, os.SCHED_RR)
