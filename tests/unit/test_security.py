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

from stream_monitor.app.worker import MonitorApp, broker_credentials
from stream_monitor.settings import KafkaSecurity, ServiceSettings
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

