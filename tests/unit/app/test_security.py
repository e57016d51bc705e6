"""Kafka client security settings, checked without a broker (Tansu 0.6.0 here offers
neither working TLS listeners nor SASL PLAIN/SCRAM): real SSL contexts built from a
generated CA and client certificate, SASL credentials per mechanism, secrets never
rendered, and the web server's safe defaults."""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from pathlib import Path

import faust
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from stream_monitor.app.faust_io import broker_credentials
from stream_monitor.app.worker import MonitorApp
from stream_monitor.config.groups import KafkaSecurity
from stream_monitor.settings import ServiceSettings
from tests.conftest import ROOT

SECRET = "pa55-w0rd-that-must-not-leak"


def _cert(tmp: Path, name: str, issuer_key=None, issuer_name=None, ca: bool = False):  # type: ignore[no-untyped-def]
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name or subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    (tmp / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                        serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    return key, subject


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    ca_key, ca_name = _cert(tmp_path, "ca", ca=True)
    _cert(tmp_path, "client", issuer_key=ca_key, issuer_name=ca_name)
    return tmp_path


def test_ssl_with_ca_and_client_certificate(pki: Path) -> None:
    sec = KafkaSecurity(protocol="SSL", ssl_cafile=pki / "ca.pem", ssl_certfile=pki / "client.pem",
                        ssl_keyfile=pki / "client.key")
    creds = broker_credentials(sec)
    assert isinstance(creds, faust.SSLCredentials)
    ctx = creds.context
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert any(c["subject"][0][0][1] == "ca" for c in ctx.get_ca_certs())


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl_credentials(pki: Path, mechanism: str) -> None:
    sec = KafkaSecurity(protocol="SASL_SSL", sasl_mechanism=mechanism, sasl_username="monitor",  # type: ignore[arg-type]
                        sasl_password=SECRET, ssl_cafile=pki / "ca.pem")
    creds = broker_credentials(sec)
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.username == "monitor" and creds.password == SECRET and str(creds.mechanism.value) == mechanism
    assert isinstance(creds.ssl_context, ssl.SSLContext)


def test_plaintext_needs_no_credentials() -> None:
    assert broker_credentials(KafkaSecurity()) is None


def test_mismatched_tls_files_are_refused(pki: Path) -> None:
    with pytest.raises(ValueError, match="go together"):
        KafkaSecurity(protocol="SSL", ssl_certfile=pki / "client.pem")


def test_secrets_from_environment_never_rendered(monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("STREAM_MONITOR_KAFKA__SECURITY__PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("STREAM_MONITOR_KAFKA__SECURITY__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("STREAM_MONITOR_KAFKA__SECURITY__SASL_USERNAME", "monitor")
    monkeypatch.setenv("STREAM_MONITOR_KAFKA__SECURITY__SASL_PASSWORD", SECRET)
    caplog.set_level(logging.DEBUG)
    s = ServiceSettings.from_yaml(ROOT / "config" / "demo.yaml")
    assert s.kafka.security.password() == SECRET
    logging.getLogger("test").info("settings: %s %r", s, s)
    for rendered in (repr(s), str(s), s.model_dump_json(), caplog.text):
        assert SECRET not in rendered


def test_web_defaults_are_local_and_faust_web_is_off() -> None:
    s = ServiceSettings.from_yaml(ROOT / "config" / "demo.yaml")
    assert ServiceSettings().web.host == "127.0.0.1" and s.web.host == "127.0.0.1"
    app = MonitorApp(s, {"fraud-detector": None})
    assert app.app.conf.web_enabled is False



def _sasl_ssl(pki: Path) -> KafkaSecurity:
    return KafkaSecurity(protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-256", sasl_username="monitor",
                         sasl_password=SECRET, ssl_cafile=pki / "ca.pem")


def test_every_worker_client_gets_the_security_settings(pki: Path) -> None:
    """The faust consumer and producer (which also carries dead letters and retrain
    requests, and faust's own topic declarations), and the admin client that creates
    topics before the worker starts, all connect with kafka.security."""
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    from stream_monitor.tools.kafka_admin import client_security

    sec = _sasl_ssl(pki)
    s = ServiceSettings.from_yaml(ROOT / "config" / "demo.yaml")
    s = s.model_copy(update={"kafka": s.kafka.model_copy(update={"security": sec})})
    app = MonitorApp(s, {"fraud-detector": None})
    faust_auth = credentials_to_aiokafka_auth(app.app.conf.broker_credentials, app.app.conf.ssl_context)
    producer_auth = app.app.producer._settings_auth()
    admin_auth = client_security(sec)
    for auth in (faust_auth, producer_auth, admin_auth):
        assert auth["security_protocol"] == "SASL_SSL"
        assert auth["sasl_mechanism"] == "SCRAM-SHA-256" and auth["sasl_plain_username"] == "monitor"
        assert auth["sasl_plain_password"] == SECRET
        assert isinstance(auth["ssl_context"], ssl.SSLContext) and auth["ssl_context"].check_hostname
    publisher = app.runtime.dead_letters.publisher  # dead letters and retrain requests: the faust producer
    assert publisher is app.runtime.retrain.publisher and publisher.app is app.app  # type: ignore[attr-defined]


def test_topic_creation_uses_the_security_settings(pki: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import aiokafka.admin

    from stream_monitor.tools.kafka_admin import create_topics

    seen: dict[str, object] = {}

    class Admin:
        def __init__(self, **kwargs: object) -> None:
            seen.update(kwargs)

        async def start(self) -> None:
            raise ConnectionError("stop here")

    monkeypatch.setattr(aiokafka.admin, "AIOKafkaAdminClient", Admin)
    with pytest.raises(ConnectionError):
        create_topics("127.0.0.1:1", ["t"], 1, security=_sasl_ssl(pki))
    assert seen["security_protocol"] == "SASL_SSL" and seen["sasl_mechanism"] == "SCRAM-SHA-256"
    assert isinstance(seen["ssl_context"], ssl.SSLContext)


def test_tls_against_a_plaintext_listener_fails_fast_with_one_message(pki: Path) -> None:
    """A local listener that accepts and never answers (what a plaintext Kafka does with
    a TLS hello): the check gives up after its timeout with one clear message."""
    import socket
    import time

    from stream_monitor.errors import BrokerConnectError
    from stream_monitor.tools.kafka_admin import check_broker

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(BrokerConnectError) as info:
            check_broker(f"127.0.0.1:{port}", _sasl_ssl(pki), timeout=1.0)
        elapsed = time.monotonic() - started
    message = str(info.value)
    assert "kafka.security.protocol is SASL_SSL" in message and "TLS handshake" in message
    assert "\n" not in message and SECRET not in message
    assert elapsed < 10, elapsed  # bounded by the timeout, not by a client's retries


def test_unreachable_broker_is_one_message() -> None:
    from stream_monitor.errors import BrokerConnectError
    from stream_monitor.tools.broker import free_port
    from stream_monitor.tools.kafka_admin import check_broker

    with pytest.raises(BrokerConnectError, match=r"cannot reach Kafka at 127\.0\.0\.1:\d+: start the broker"):
        check_broker(f"127.0.0.1:{free_port()}", KafkaSecurity(), timeout=1.0)


def test_plaintext_against_a_tls_listener_fails_fast_with_one_message(pki: Path) -> None:
    """The reverse mismatch: a TLS listener (a local server with a certificate from the
    test CA) and PLAINTEXT configured. The metadata request fails at once."""
    import socket
    import threading
    import time

    from stream_monitor.errors import BrokerConnectError
    from stream_monitor.tools.kafka_admin import check_broker

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(10)
    port = server.getsockname()[1]

    def serve() -> None:
        for _ in range(4):  # the TCP check, then the client's attempts
            try:
                conn, _ = server.accept()
            except OSError:
                return
            try:
                context.wrap_socket(conn, server_side=True).close()
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        with pytest.raises(BrokerConnectError) as info:
            check_broker(f"127.0.0.1:{port}", KafkaSecurity(), timeout=2.0)
    finally:
        server.close()
    message = str(info.value)
    assert "refused the client with kafka.security.protocol PLAINTEXT" in message and "\n" not in message
    assert time.monotonic() - started < 10
