"""Configuration: YAML + environment overrides, error locations, security rules, CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stream_monitor.cli import main
from stream_monitor.config.groups import KafkaSecurity
from stream_monitor.errors import ConfigError
from stream_monitor.settings import ServiceSettings
from tests.conftest import ROOT

DEMO = ROOT / "config" / "demo.yaml"


def test_demo_config_loads_and_resolves_paths() -> None:
    s = ServiceSettings.from_yaml(DEMO)
    assert s.web.host == "127.0.0.1" and s.models[0].model_id == "fraud-detector"
    assert s.models[0].reference.profile == ROOT / "config" / "fraud-detector.profile.json"


def test_environment_overrides_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_MONITOR_KAFKA__BOOTSTRAP_SERVERS", "broker:1234")
    monkeypatch.setenv("STREAM_MONITOR_WEB__PORT", "9999")
    s = ServiceSettings.from_yaml(DEMO)
    assert s.kafka.bootstrap_servers == "broker:1234" and s.web.port == 9999
    assert s.topics.predictions == "model-predictions"  # untouched values stay


def _write(tmp_path: Path, data: object) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_every_error_is_reported_with_its_location(tmp_path: Path) -> None:
    data = yaml.safe_load(DEMO.read_text())
    m = data["models"][0]
    m["window"]["events"] = 1
    m["features"].append({"name": "amount", "type": "numeric"})
    m["detectors"]["numeric"] = ["ks", "bogus"]
    data["web"]["port"] = "not-a-port"
    with pytest.raises(ConfigError) as err:
        ServiceSettings.from_yaml(_write(tmp_path, data))
    text = str(err.value)
    assert "models.0.window.events" in text and "web.port" in text
    assert "bogus" in text or "models.0.detectors" in text
    assert text.count("\n") >= 2


def test_detector_parameters_that_do_not_build_are_reported_with_the_model(tmp_path: Path) -> None:
    data = yaml.safe_load(DEMO.read_text())
    data["models"][0]["detectors"]["streaming"] = [{"kind": "adwin", "params": {"delta": 2.0}},
                                                   {"kind": "kswin", "params": {"nope": 1}}]
    with pytest.raises(ConfigError) as err:
        ServiceSettings.from_yaml(_write(tmp_path, data))
    text = str(err.value)
    assert "model 0 (fraud-detector): detectors.streaming.0: adwin: delta" in text
    assert "detectors.streaming.1: kswin:" in text and "nope" in text


def test_sasl_without_tls_is_refused_unless_allowed() -> None:
    with pytest.raises(ValueError, match="unencrypted"):
        KafkaSecurity(protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_username="u", sasl_password="p")
    ok = KafkaSecurity(protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512", sasl_username="u",
                       sasl_password="hunter2-secret", allow_sasl_without_tls=True)
    assert ok.password() == "hunter2-secret" and "hunter2" not in repr(ok) and "hunter2" not in str(ok.model_dump())


def test_password_from_file(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text("s3cret\n")
    sec = KafkaSecurity(protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-256", sasl_username="u", sasl_password_file=f)
    assert sec.password() == "s3cret"


def test_validate_config_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate-config", str(DEMO)]) == 0
    data = yaml.safe_load(DEMO.read_text())
    data["models"][0]["retrain"]["consecutive_windows"] = 0
    assert main(["validate-config", str(_write(tmp_path, data))]) == 2
    assert "models.0.retrain.consecutive_windows" in capsys.readouterr().err


def test_reference_build_cli(tmp_path: Path) -> None:
    from stream_monitor.config.references import load_profile
    from stream_monitor.tools.simulate import reference_rows

    csv_path = tmp_path / "ref.csv"
    rows = list(reference_rows(3000))
    csv_path.write_text(
        ",".join(rows[0]) + "\n" + "\n".join(",".join(str(v) for v in r.values()) for r in rows) + "\n"
    )
    out = tmp_path / "profile.json"
    assert main(["reference", "build", "--config", str(DEMO), "--input", str(csv_path), "--output", str(out)]) == 0
    profile = load_profile(out)
    assert profile.rows == 3000 and set(profile.features) == {
        "amount", "age", "account_age_days", "merchant_category", "country"}


def test_committed_demo_profile_is_reproducible() -> None:
    from stream_monitor.config.references import load_profile
    from stream_monitor.tools.simulate import reference_rows
    from stream_monitor.windows.profile import build_profile

    s = ServiceSettings.from_yaml(DEMO)
    committed = load_profile(s.models[0].reference.profile)  # type: ignore[arg-type]
    rebuilt = build_profile(s.models[0], reference_rows(20_000, seed=1), source=committed.source)
    assert rebuilt == committed
