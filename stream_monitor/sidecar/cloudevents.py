"""CloudEvents as KServe's inference logger sends them, in binary or structured mode.

KServe's logger (``pkg/logger/worker.go``) posts one CloudEvent (spec 1.0) per
inference request and one per response, in *binary* mode: the attributes travel
as ``ce-*`` HTTP headers and the body is the model server's request or response
bytes unchanged. It sets ``ce-id`` (the request's ``Ce-Id`` header, or a fresh
UUID; the request and its response share it), ``ce-type``
(``org.kubeflow.serving.inference.request`` / ``.response``), ``ce-source``,
``ce-specversion``, ``ce-time`` and the extensions ``ce-inferenceservicename``,
``ce-namespace``, ``ce-component``, ``ce-endpoint``, ``ce-metadata``,
``ce-recordedtime`` and, when the service has some, ``ce-annotations``. Tracing
middleware may add ``ce-traceparent``. The response's ``Content-Type`` is the
request's.

*Structured* mode (``Content-Type: application/cloudevents+json``) carries the same
attributes as members of one JSON object with the payload in ``data`` (JSON) or
``data_base64``; ``application/cloudevents-batch+json`` is a JSON array of them.

Parsing never raises anything but :class:`CloudEventError`, whose ``reason`` is a
fixed code and whose ``field`` names an attribute, never a value.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = [
    "REQUEST_TYPE",
    "RESPONSE_TYPE",
    "CloudEvent",
    "CloudEventError",
    "parse_binary",
    "parse_structured",
]

REQUEST_TYPE: Final = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE: Final = "org.kubeflow.serving.inference.response"
_SIDES: Final = {REQUEST_TYPE: "request", RESPONSE_TYPE: "response"}
_MAX_ATTR: Final = 200  # characters of an identifying attribute (ids derived from it stay <= 256)
_MAX_BATCH: Final = 1000


class CloudEventError(ValueError):
    """A CloudEvent the sidecar cannot use; ``reason`` is a metric label, ``field`` an attribute name."""

    def __init__(self, reason: str, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.reason = reason
        self.field = field
        self.detail = detail


@dataclass(frozen=True)
class CloudEvent:
    """The attributes the sidecar uses, and the payload bytes."""

    id: str
    side: Literal["request", "response"]
    source: str
    time: str | None
    inference_service: str
    namespace: str
    component: str
    endpoint: str
    data: bytes

    @property
    def pair_key(self) -> str:
        """Request and response of one inference share it (a transformer's and a predictor's
        logger may both log one inference under the same id: the component tells them apart)."""
        return f"{self.namespace}/{self.inference_service}/{self.component}/{self.id}"


def _text(attrs: Mapping[str, Any], name: str, *, required: bool) -> str:
    value = attrs.get(name)
    if value is None or value == "":
        if required:
            raise CloudEventError("missing_attribute", name, "required CloudEvent attribute is missing")
        return ""
    if not isinstance(value, str):
        raise CloudEventError("bad_attribute", name, "must be a string")
    if len(value) > _MAX_ATTR:
        raise CloudEventError("bad_attribute", name, f"longer than {_MAX_ATTR} characters")
    return value


def _event(attrs: Mapping[str, Any], data: bytes) -> CloudEvent:
    spec = _text(attrs, "specversion", required=True)
    if spec != "1.0":
        raise CloudEventError("bad_attribute", "specversion", "only CloudEvents 1.0 is accepted")
    kind = _text(attrs, "type", required=True)
    side = _SIDES.get(kind)
    if side is None:
        raise CloudEventError("unknown_type", "type", f"expected {REQUEST_TYPE} or {RESPONSE_TYPE}")
    time = _text(attrs, "time", required=False) or None
    return CloudEvent(
        id=_text(attrs, "id", required=True),
        side="request" if side == "request" else "response",
        source=_text(attrs, "source", required=True),
        time=time,
        inference_service=_text(attrs, "inferenceservicename", required=True),
        namespace=_text(attrs, "namespace", required=False),
        component=_text(attrs, "component", required=False),
        endpoint=_text(attrs, "endpoint", required=False),
        data=data,
    )


def parse_binary(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    """A binary-mode CloudEvent: ``ce-*`` headers (any case) and the payload as the body."""
    attrs = {k[3:].lower(): v for k, v in headers.items() if k[:3].lower() == "ce-"}
    return _event(attrs, body)


def _structured_one(obj: Any) -> CloudEvent:
    if not isinstance(obj, dict):
        raise CloudEventError("bad_envelope", "$", "a structured CloudEvent must be a JSON object")
    if "data_base64" in obj:
        encoded = obj["data_base64"]
        if not isinstance(encoded, str):
            raise CloudEventError("bad_envelope", "data_base64", "must be a string")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise CloudEventError("bad_envelope", "data_base64", "not base64") from None
    elif isinstance(obj.get("data"), str):
        data = obj["data"].encode()
    else:
        data = json.dumps(obj.get("data")).encode()
    return _event(obj, data)


def parse_structured(body: bytes, *, batch: bool) -> list[CloudEvent]:
    """Structured-mode CloudEvents: one JSON object, or (``batch``) a JSON array of them."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise CloudEventError("bad_envelope", "$", "body is not JSON") from None
    if not batch:
        return [_structured_one(doc)]
    if not isinstance(doc, list):
        raise CloudEventError("bad_envelope", "$", "a CloudEvents batch must be a JSON array")
    if len(doc) > _MAX_BATCH:
        raise CloudEventError("bad_envelope", "$", f"more than {_MAX_BATCH} CloudEvents in one batch")
    return [_structured_one(item) for item in doc]
