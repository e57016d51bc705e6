"""Shared fixtures: the demo model spec and its reference profile (no servers)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from stream_monitor.pipeline.monitor import Monitor, SourceRecord
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import demo_model_config, reference_rows, to_json
from stream_monitor.windows.profile import ReferenceProfile, build_profile

# Tests marked with a tool they need (promtool, chromium, broker, ...) skip where it is missing,
# and fail when CI is set; a test using a tool without its marker fails: see tests/tool_markers.py.
from tests.tool_markers import (  # noqa: F401 - pytest hooks
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_fixture_setup,
    pytest_runtest_protocol,
    pytest_runtest_setup,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def demo_spec() -> ModelSpec:
    return ModelSpec.model_validate(demo_model_config())


@pytest.fixture(scope="session")
def demo_reference(demo_spec: ModelSpec) -> ReferenceProfile:
    return build_profile(demo_spec, reference_rows(20_000, seed=1), source="test reference")


def records(events: Iterable[dict[str, Any] | bytes | None], *, topic: str = "model-predictions",
            partition: int = 0, start: int = 0, kind: str = "prediction") -> list[SourceRecord]:
    out = []
    for i, e in enumerate(events):
        raw = e if (e is None or isinstance(e, bytes)) else to_json(e)
        out.append(SourceRecord(kind, raw, topic, partition, start + i, b"fraud-detector"))  # type: ignore[arg-type]
    return out


def window_tests_only(spec: ModelSpec) -> ModelSpec:
    """``spec`` with the sequential (per-event CUSUM) detectors off: for tests of window-level behaviour."""
    seq = spec.detectors.sequential.model_copy(update={"enabled": False})
    return spec.model_copy(update={"detectors": spec.detectors.model_copy(update={"sequential": seq})})


class MemoryStore:
    """The runtime's snapshot store in memory (partition -> blob), for tests without faust."""

    def __init__(self) -> None:
        self.blobs: dict[int, bytes] = {}

    def get(self, partition: int) -> bytes | None:
        return self.blobs.get(partition)

    def put(self, partition: int, blob: bytes) -> None:
        self.blobs[partition] = blob


def make_monitor(spec: ModelSpec, reference: ReferenceProfile | None) -> Monitor:
    return Monitor([spec], {spec.model_id: reference}, max_message_bytes=1 << 20)
