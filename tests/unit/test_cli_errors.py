"""Operator errors read like errors: one line on stderr saying what is wrong and how
to fix it, exit code 2, no traceback unless ``--debug``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from stream_monitor.cli import main
from tests.conftest import ROOT

DEMO = ROOT / "config" / "demo.yaml"


def _config(tmp_path: Path, name: str, **changes: object) -> Path:
    data = yaml.safe_load(DEMO.read_text())
    data["models"][0]["reference"] = {"profile": str(ROOT / "config" / "fraud-detector.profile.json")}
    for key, value in changes.items():
        data[key] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_empty_config_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    for argv in (["validate-config", str(empty)], ["run", "--config", str(empty)],
                 ["backtest", "--config", str(empty), "--input", str(empty)]):
        assert main(argv) == 2
        assert "no model configured" in _error(capsys)


def test_unknown_key_names_it_and_says_how_to_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate-config", str(_config(tmp_path, "unknown", kafkaa={"x": 1}))]) == 2
    assert "kafkaa: unknown key; remove it or fix its spelling" in _error(capsys)


def test_validate_config_loads_the_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad-profile.json"
    bad.write_text(json.dumps({"features": {}}))
    data = yaml.safe_load(DEMO.read_text())
    data["models"][0]["reference"] = {"profile": str(bad)}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["validate-config", str(path)]) == 2
    assert "not a reference profile" in _error(capsys)
    data["models"][0]["reference"] = {"profile": str(tmp_path / "missing.json")}
    path.write_text(yaml.safe_dump(data))
    assert main(["validate-config", str(path)]) == 2
    assert "reference.profile: file not found" in _error(capsys)
    assert main(["validate-config", str(_config(tmp_path, "good"))]) == 0


def test_missing_backtest_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "events.jsonl"
    assert main(["backtest", "--config", str(_config(tmp_path, "c")), "--input", str(missing)]) == 2
    assert _error(capsys) == f"stream-monitor: error: {missing}: file not found"


def test_run_with_the_web_port_taken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["run", "--config", str(_config(tmp_path, "c")), "--web-port", str(port)]) == 2
    err = _error(capsys)
    assert f"web.port {port} on 127.0.0.1 is not available" in err and "--web-port" in err


def test_run_with_no_broker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stream_monitor.tools.broker import free_port

    bootstrap = f"127.0.0.1:{free_port()}"
    assert main(["run", "--config", str(_config(tmp_path, "c")), "--bootstrap-servers", bootstrap,
                 "--web-port", str(free_port())]) == 2
    assert _error(capsys) == (f"stream-monitor: error: cannot reach Kafka at {bootstrap}: start the broker, "
                              "or fix kafka.bootstrap_servers (--bootstrap-servers)")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        main(["--debug", "backtest", "--config", str(_config(tmp_path, "c")), "--input", str(tmp_path / "x")])


def test_simulate_to_no_broker_and_broker_on_a_taken_port(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    from stream_monitor.tools.broker import free_port

    bootstrap = f"127.0.0.1:{free_port()}"
    assert main(["simulate", "--events", "10", "--bootstrap-servers", bootstrap]) == 2
    assert f"cannot reach Kafka at {bootstrap}" in _error(capsys)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["broker", "--port", str(port)]) == 2
    assert f"port {port} on 127.0.0.1 is not available" in _error(capsys)
