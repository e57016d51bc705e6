"""`stream-monitor retrain-listen`: documented options, the worker's Kafka security, operator errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from stream_monitor.cli import build_parser, main
from stream_monitor.retrain.command import options_from_args
from tests.conftest import ROOT


def _sub() -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices["retrain-listen"]  # type: ignore[no-any-return]


def test_every_option_has_help_text() -> None:
    options = [a for a in _sub()._actions if a.option_strings and a.dest != "help"]
    assert len(options) >= 17
    assert all(a.help and len(a.help) > 10 for a in options), [a.dest for a in options if not a.help]


def test_connection_and_security_come_from_the_worker_settings(tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    data["models"][0]["reference"] = {"profile": str(ROOT / "config" / "fraud-detector.profile.json")}
    ca = tmp_path / "ca.pem"
    data["kafka"] = {"bootstrap_servers": "kafka:9093", "security": {
        "protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "retrainer",
        "sasl_password": "s3cret", "ssl_cafile": str(ca)}}
    data["topics"] = {"retrain_requests": "requests"}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    args = build_parser().parse_args(["retrain-listen", "--exec", "train.sh", "--config", str(path)])
    o = options_from_args(args)
    assert (o.bootstrap_servers, o.topic, o.dead_letter_topic) == ("kafka:9093", "requests", "requests-dlq")
    assert o.security.protocol == "SASL_SSL" and o.security.password() == "s3cret" and o.security.ssl_cafile == ca
    args = build_parser().parse_args(["retrain-listen", "--exec", "x", "--config", str(path), "--bootstrap-servers",
                                      "b:1", "--topic", "t", "--dead-letter-topic", "d", "--handler-timeout-seconds",
                                      "0", "--max-attempts", "2"])
    o = options_from_args(args)
    assert (o.bootstrap_servers, o.topic, o.dead_letter_topic) == ("b:1", "t", "d")
    assert (o.handler_timeout_seconds, o.max_attempts) == (None, 2)


def test_security_from_the_environment_without_a_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_MONITOR_KAFKA__BOOTSTRAP_SERVERS", "k:9093")
    monkeypatch.setenv("STREAM_MONITOR_KAFKA__SECURITY__PROTOCOL", "SSL")
    o = options_from_args(build_parser().parse_args(["retrain-listen", "--exec", "x"]))
    assert (o.bootstrap_servers, o.security.protocol, o.topic) == ("k:9093", "SSL", "model-retrain-requests")


@pytest.mark.parametrize("argv", [
    ["--exec", "", "--bootstrap-servers", "127.0.0.1:1"],
    ["--exec", "'unbalanced", "--bootstrap-servers", "127.0.0.1:1"],
    ["--exec", "true", "--bootstrap-servers", "127.0.0.1:1"],
    ["--exec", "true", "--bootstrap-servers", "127.0.0.1:1", "--max-attempts", "0"],
])
def test_operator_errors_are_one_line_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["retrain-listen", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1 and err.startswith("stream-monitor: error:"), err
