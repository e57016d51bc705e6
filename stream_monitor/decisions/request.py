"""The retrain request: the outbound contract published to the retrain topic.

``request_id`` is deterministic: the same breach (model, version, the
version's incarnation, state parameters, window index) always yields the same
id, so a request re-published after a crash is recognisable as the same one by
every consumer. A version that is retired and comes back is a new incarnation
(its first event time), so its ids never repeat the earlier ones.

Requests evolve. The first request of an incident (the model entered the
drift state) has ``supersedes = None``: a new breach. While the incident lasts,
a request naming features or a severity that the last one did not, or the same
evidence once the cooldown is over, *supersedes* the last one
(``supersedes = <its request_id>``) and names every feature drifting now, with
its latest evidence: a consumer acts on the newest request of an incident and
can drop the ones it superseded.
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
    """A request to retrain one model version, with the evidence for it.

    ``features`` names every feature drifting now (the prediction as
    ``__prediction__``); ``reasons`` holds the latest evidence of each (test,
    statistic, threshold, and the window it came from); ``supersedes`` is the
    request of the same incident that this one replaces, ``None`` for a new
    breach.
    """

    model_config = _FROZEN
    kind: Literal["retrain_request"] = "retrain_request"
    schema_version: Literal[2] = 2
    request_id: str
    model_id: str
    model_version: str
    created_at: float  # event time of the end of the window that completed the breach
    severity: Severity
    consecutive_windows: int
    reasons: tuple[Reason, ...]
    reference: ReferenceInfo
    features: tuple[str, ...] = ()
    supersedes: str | None = None


def request_id(model_id: str, version: str, params_hash: str, window_index: int, incarnation: str = "") -> str:
    """The deterministic id of the request made when ``window_index`` closed.

    >>> request_id("m", "v1", "abc", 7) == request_id("m", "v1", "abc", 7)
    True
    >>> request_id("m", "v1", "abc", 7) == request_id("m", "v1", "abc", 8)
    False
    >>> request_id("m", "v1", "abc", 7, "1767225600.0") == request_id("m", "v1", "abc", 7, "1767312000.0")
    False
    """
    suffix = f"/{incarnation}" if incarnation else ""
    return str(uuid.uuid5(REQUEST_NAMESPACE, f"{model_id}/{version}/{params_hash}/{window_index}{suffix}"))
