"""Handlers: what runs for one retrain request, and the ``--exec`` one.

A handler is an async callable taking a :class:`Delivery`; it returns when the
request was handled and raises when it was not (the listener then retries it
with backoff, and dead-letters it once the attempts are spent).

:class:`ExecHandler` runs a command (argv, no shell) with the request JSON on
its standard input and these environment variables added to the listener's:

=================================  ===============================================
``STREAM_MONITOR_REQUEST_ID``      the request's id
``STREAM_MONITOR_MODEL_ID``        the model
``STREAM_MONITOR_MODEL_VERSION``   the model version
``STREAM_MONITOR_SEVERITY``        ``warning`` or ``critical``
``STREAM_MONITOR_SUPERSEDES``      the id this request supersedes (empty: a new breach)
``STREAM_MONITOR_REPLACES``        comma-separated ids superseded before they were handled
``STREAM_MONITOR_ATTEMPT``         1 for the first attempt, 2 for the first retry, ...
=================================  ===============================================

Exit status 0 is success; anything else, a timeout or a command that cannot
start is a failure. On Linux the command is killed when the listener dies
(``PR_SET_PDEATHSIG``), so a retry never runs next to an orphaned attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from stream_monitor.decisions.request import RetrainRequest

__all__ = ["Delivery", "ExecHandler", "Handler", "HandlerFailed", "request_env"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One request handed to a handler: the model, its original JSON, and context."""

    request: RetrainRequest
    raw: bytes
    replaces: tuple[str, ...] = ()
    attempt: int = 1


Handler = Callable[[Delivery], Awaitable[None]]


class HandlerFailed(Exception):  # noqa: N818 - a failure of the user's handler, not of the listener
    """A handler attempt failed; ``message`` says how (no request content)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def request_env(d: Delivery) -> dict[str, str]:
    """The ``STREAM_MONITOR_*`` variables of one delivery (see the module docstring)."""
    r = d.request
    return {
        "STREAM_MONITOR_REQUEST_ID": r.request_id,
        "STREAM_MONITOR_MODEL_ID": r.model_id,
        "STREAM_MONITOR_MODEL_VERSION": r.model_version,
        "STREAM_MONITOR_SEVERITY": r.severity,
        "STREAM_MONITOR_SUPERSEDES": r.supersedes or "",
        "STREAM_MONITOR_REPLACES": ",".join(d.replaces),
        "STREAM_MONITOR_ATTEMPT": str(d.attempt),
    }


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # resolved before fork: nothing is loaded in the child
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the listener died before prctl took effect
            os._exit(1)

    return preexec


class ExecHandler:
    """Run ``argv`` once per attempt (see the module docstring).

    Parameters
    ----------
    argv:
        The command and its arguments; no shell (use ``sh -c '...'`` for one).
    timeout_seconds:
        An attempt running longer is killed and counts as failed; ``None``: no limit.
    env:
        The environment the variables are added to (the listener's, normally).
    kill_grace_seconds:
        Between SIGTERM and SIGKILL when an attempt is stopped.
    """

    def __init__(self, argv: Sequence[str], timeout_seconds: float | None = None,
                 env: Mapping[str, str] | None = None, kill_grace_seconds: float = 10.0) -> None:
        if not argv:
            raise ValueError("the command is empty")
        self.argv = list(argv)
        self.timeout_seconds = timeout_seconds
        self.env = dict(env or {})
        self.kill_grace_seconds = kill_grace_seconds

    async def __call__(self, d: Delivery) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.PIPE, env={**self.env, **request_env(d)},
                preexec_fn=_die_with_parent(),
            )
        except OSError as exc:
            raise HandlerFailed(f"cannot start {self.argv[0]}: {exc.strerror}") from None
        try:
            await asyncio.wait_for(proc.communicate(d.raw), self.timeout_seconds)
        except TimeoutError:
            await self._stop(proc)
            raise HandlerFailed(f"timed out after {self.timeout_seconds:g} s") from None
        except asyncio.CancelledError:  # the listener is shutting down: no orphan
            await self._stop(proc)
            raise
        if proc.returncode != 0:
            raise HandlerFailed(f"exit status {proc.returncode}")

    async def _stop(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), self.kill_grace_seconds)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
