"""Talking to a Kafka cluster as the worker does: client security, a fail-fast check, topic creation.

Any Kafka, the embedded broker included: :func:`client_security` turns
``kafka.security`` into aiokafka keyword arguments, :func:`check_broker` fails
fast with one clear message when the broker cannot be used as configured, and
:func:`create_topics` creates the topics that do not exist yet.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Sequence
from typing import Any

from stream_monitor.config.groups import KafkaSecurity
from stream_monitor.errors import BrokerConnectError

__all__ = ["check_broker", "client_security", "create_topics", "ssl_context"]


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
