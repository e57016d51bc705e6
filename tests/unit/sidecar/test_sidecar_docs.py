"""The Kubernetes examples in docs/kubernetes are what the sidecar accepts: their mapping
validates, their sidecar arguments parse, and the logger URL reaches the sidecar's port."""

from __future__ import annotations

from typing import Any

import yaml

from stream_monitor.cli import build_parser
from stream_monitor.sidecar.mapping import SidecarMapping
from tests.conftest import ROOT

DOCS = ROOT / "docs" / "kubernetes"


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DOCS / name).read_text()) if d]


def _sidecar_args(containers: list[dict[str, Any]]) -> Any:
    (container,) = [c for c in containers if c["name"] == "stream-monitor-sidecar"]
    return build_parser().parse_args(container["args"])


def test_pod_example_parses_and_keeps_posts_behind_the_token() -> None:
    (deployment,) = _docs("pod-with-sidecar.yaml")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    args = _sidecar_args(containers)
    assert args.command == "sidecar" and args.token_file and args.port == 8090
    app_env = {e["name"]: e for e in containers[0]["env"]}
    assert app_env["MONITOR_URL"]["value"] == f"http://127.0.0.1:{args.port}/v1/events"


def test_inferenceservice_example_logger_reaches_the_sidecar_and_mapping_validates() -> None:
    config_map, isvc = _docs("inferenceservice-logger.yaml")
    mapping = SidecarMapping.model_validate(yaml.safe_load(config_map["data"]["mapping.yaml"]))
    (model,) = mapping.kserve
    predictor = isvc["spec"]["predictor"]
    assert model.inference_service == isvc["metadata"]["name"]
    assert model.namespace == isvc["metadata"]["namespace"]
    assert predictor["logger"]["mode"] == "all"
    args = _sidecar_args(predictor["containers"])
    assert predictor["logger"]["url"] == f"http://{args.host}:{args.port}/"
    assert args.mapping == "/etc/stream-monitor/mapping.yaml"


def test_mapping_example_in_the_guide_validates() -> None:
    text = (ROOT / "docs" / "sidecar.md").read_text()
    block = text.split("```yaml\n# mapping.yaml\n", 1)[1].split("```", 1)[0]
    mapping = SidecarMapping.model_validate(yaml.safe_load(block))
    assert len(mapping.kserve) == 2
