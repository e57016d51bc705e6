"""The retrain request: the outbound contract published to the retrain topic.

``request_id`` is deterministic: the same breach (model, version, state
parameters, window index) always yields the same id, so a request re-published
after a crash is recognisable as the same one by every consumer.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["REQUEST_NAMESPACE", "Reason", "ReferenceInfo", "RetrainRequest", "WindowInfo", "request_id"]

REQUEST_NAMESPACE = uuid.UUID("6d3c1c8e-5a8f-4d0e-9d3e-2b7f3f2a9c41")
Severity = Literal["warning", "critical"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class WindowInfo(BaseModel):
    model_config = _FROZEN
    index: int
    start: float | None
    end: float | None
    events: int


class Reason(BaseModel):
    """One piece of evidence: a test that fired on one window."""

    model_config = _FROZEN
    detector: str
    feature: str | None
    statistic: str
    value: float
    threshold: float
    p_value: float | None = None
    window: WindowInfo


class ReferenceInfo(BaseModel):
    """What the windows were compared against."""

    model_config = _FROZEN
    kind: Literal["static", "learned", "rolling"]
    source: str
    fingerprint: str
    rows: int


class RetrainRequest(BaseModel):
    model_config = _FROZEN
    kind: Literal["retrain_request"] = "retrain_request"
    schema_version: Literal[1] = 1
    request_id: str
    model_id: str
    model_version: str
    created_at: float  # event time of the end of the window that completed the breach
    severity: Severity
    consecutive_windows: int
    reasons: tuple[Reason, ...]
    reference: ReferenceInfo


def request_id(model_id: str, version: str, params_hash: str, window_index: int) -> str:
    """The deterministic id of the breach completed by ``window_index``.

    >>> request_id("m", "v1", "abc", 7) == request_id("m", "v1", "abc", 7)
    True
    >>> request_id("m", "v1", "abc", 7) == request_id("m", "v1", "abc", 8)
    False
    """
    return str(uuid.uuid5(REQUEST_NAMESPACE, f"{model_id}/{version}/{params_hash}/{window_index}"))
