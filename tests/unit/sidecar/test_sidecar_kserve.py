"""KServe inference logger CloudEvents to prediction events, without servers.

The payloads are KServe's documented examples: the V1 sklearn-iris request and response
(``docs/samples/logger/basic``) and the Open Inference Protocol v2 iris request and response
(``docs/samples/v1beta1/sklearn/v2``); the headers are those KServe's logger sets
(``pkg/logger/worker.go``, sent in CloudEvents binary mode by sdk-go).
"""

from __future__ import annotations

import doctest
import json
from typing import Any

import pytest

from stream_monitor.sidecar import pairing
from stream_monitor.sidecar.cloudevents import (
    REQUEST_TYPE,
    RESPONSE_TYPE,
    CloudEventError,
    parse_binary,
    parse_structured,
)
from stream_monitor.sidecar.kserve import STRUCTURED, STRUCTURED_BATCH, KServeIntake
from stream_monitor.sidecar.mapping import SidecarMapping
from stream_monitor.sidecar.pairing import Pairer
from stream_monitor.sidecar.tensors import parse_payload

V1_REQUEST = {"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}
V1_RESPONSE = {"predictions": [1, 1]}
V2_REQUEST = {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32",
                          "data": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}]}
V2_RESPONSE = {"id": "823248cc-d770-4a51-9606-16803395569c", "model_name": "iris-classifier",
               "model_version": "v1.0.0",
               "outputs": [{"data": [1, 2], "datatype": "FP32", "name": "predict", "parameters": None, "shape": [2]}]}
IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

MAPPING: dict[str, Any] = {"kserve": [
    {"inference_service": "sklearn-iris", "model_id": "iris", "model_version": "v1",
     "features": {name: {"column": i} for i, name in enumerate(IRIS)}},
    {"inference_service": "sklearn-irisv2", "namespace": "default", "model_id": "iris-v2", "model_version": "v2",
     "features": {name: {"tensor": "input-0", "column": i} for i, name in enumerate(IRIS)},
     "prediction": {"tensor": "predict"}},
]}


def kserve_headers(ce_id: str, side: str, service: str = "sklearn-iris", time: str = "2021-04-10T00:23:26.0789529Z",
                   ) -> dict[str, str]:
    """The headers of one CloudEvent as KServe's logger posts it (binary mode)."""
    return {
        "Ce-Id": ce_id,
        "Ce-Specversion": "1.0",
        "Ce-Type": REQUEST_TYPE if side == "request" else RESPONSE_TYPE,
        "Ce-Source": "http://localhost:9081/",
        "Ce-Time": time,
        "Ce-Recordedtime": time,
        "Ce-Inferenceservicename": service,
        "Ce-Namespace": "default",
        "Ce-Component": "predictor",
        "Ce-Endpoint": "",
        "Ce-Metadata": "{}",
        "Ce-Traceparent": "00-90bdf848647d50283394155d2df58f19-84dacdfdf07cadfc-00",
        "Content-Type": "application/json",
    }


def intake(**pairing: Any) -> KServeIntake:
    opts = {"timeout_seconds": 30.0, "max_pending": 100, "max_pending_bytes": 1 << 20, **pairing}
    return KServeIntake(SidecarMapping.model_validate(MAPPING), Pairer(**opts))


def post(k: KServeIntake, ce_id: str, side: str, body: dict[str, Any], now: float = 0.0, **kw: Any):  # type: ignore[no-untyped-def]
    headers = kserve_headers(ce_id, side, **kw)
    return k.handle("application/json", headers, json.dumps(body).encode(), now, 1_700_000_000.0)


def test_v1_request_then_response_becomes_one_event_per_row() -> None:
    k = intake()
    first = post(k, "0009174a", "request", V1_REQUEST)
    assert not first.refused and first.events == [] and k.pairer.pending == 1
    out = post(k, "0009174a", "response", V1_RESPONSE, time="2021-04-10T00:23:26.080736102Z")
    assert not out.refused and k.pairer.pending == 0
    assert [e.event_id for e in out.events] == ["0009174a:0", "0009174a:1"]  # type: ignore[attr-defined]
    e0, e1 = out.events
    assert e0.model_id == "iris" and e0.model_version == "v1"  # type: ignore[attr-defined]
    assert e0.features == dict(zip(IRIS, [6.8, 2.8, 4.8, 1.4], strict=True))  # type: ignore[attr-defined]
    assert e1.features["petal_width"] == 1.6 and e1.prediction == 1.0  # type: ignore[attr-defined]
    assert e0.timestamp == pytest.approx(1618014206.0789529)  # type: ignore[attr-defined]
    assert e0.latency_ms == pytest.approx(1.7835, abs=1e-3)  # type: ignore[attr-defined]


def test_v2_response_before_request_pairs_the_same() -> None:
    k = intake()
    assert post(k, "823248cc", "response", V2_RESPONSE, service="sklearn-irisv2").events == []
    out = post(k, "823248cc", "request", V2_REQUEST, service="sklearn-irisv2")
    assert [(e.event_id, e.prediction, e.features["petal_length"]) for e in out.events] == [  # type: ignore[attr-defined]
        ("823248cc:0", 1.0, 4.8), ("823248cc:1", 2.0, 4.5)]
    assert out.events[0].model_id == "iris-v2"  # type: ignore[attr-defined]
    assert k.pairer.counts()["paired"] == 1


def test_flat_and_nested_v2_data_are_the_same_rows() -> None:
    flat = {"inputs": [{**V2_REQUEST["inputs"][0], "data": [6.8, 2.8, 4.8, 1.4, 6.0, 3.4, 4.5, 1.6]}]}
    assert parse_payload(json.dumps(flat).encode(), "request") == parse_payload(
        json.dumps(V2_REQUEST).encode(), "request")


@pytest.mark.parametrize("tensor", [
    {"name": "input-0", "shape": [2, 4], "datatype": "FP32", "data": [6.8, 2.8, 4.8]},  # too few elements
    {"name": "input-0", "shape": [2, -4], "datatype": "FP32", "data": []},
    {"name": "input-0", "shape": "2x4", "datatype": "FP32", "data": []},
    {"name": "input-0", "shape": [0, 4], "datatype": "FP32", "data": []},
    {"name": "input-0", "shape": [2, 4], "datatype": "FP32", "data": [[[[1.0]]]] * 8},
])
def test_malformed_tensor_shape_is_refused_and_not_held(tensor: dict[str, Any]) -> None:
    k = intake()
    out = post(k, "bad", "request", {"inputs": [tensor]}, service="sklearn-irisv2")
    assert out.refused and out.reasons == ["bad_shape"] and k.pairer.pending == 0
    assert "6.8" not in json.dumps([p.as_json() for p in out.problems])


def test_tensors_of_different_batch_sizes_are_refused() -> None:
    second = {"name": "extra", "shape": [3], "datatype": "INT64", "data": [1, 2, 3]}
    with pytest.raises(CloudEventError) as err:
        parse_payload(json.dumps({"inputs": [V2_REQUEST["inputs"][0], second]}).encode(), "request")
    assert err.value.reason == "bad_shape"


def test_row_count_mismatch_between_request_and_response_is_refused() -> None:
    k = intake()
    post(k, "x", "request", V1_REQUEST)
    out = post(k, "x", "response", {"predictions": [1]})
    assert out.refused and out.reasons == ["row_mismatch"] and out.events == []


def test_missing_pair_expires_and_is_counted_per_side() -> None:
    k = intake(timeout_seconds=5.0)
    post(k, "lonely-request", "request", V1_REQUEST, now=0.0)
    post(k, "lonely-response", "response", V1_RESPONSE, now=1.0)
    assert k.pairer.expire(now=5.5) == 1 and k.pairer.pending == 1
    assert k.pairer.expire(now=6.0) == 1 and k.pairer.pending == 0
    counts = k.pairer.counts()
    assert counts["expired_request"] == 1 and counts["expired_response"] == 1 and counts["paired"] == 0
    # a response arriving after its request expired waits, and expires, on its own
    assert post(k, "lonely-request", "response", V1_RESPONSE, now=7.0).events == []


def test_pending_memory_is_bounded_by_count_and_bytes() -> None:
    k = intake(max_pending=3)
    for i in range(10):
        post(k, f"r{i}", "request", V1_REQUEST, now=float(i))
    assert k.pairer.pending == 3 and k.pairer.counts()["evicted_request"] == 7
    size = len(json.dumps(V1_REQUEST))
    k = intake(max_pending_bytes=2 * size)
    for i in range(5):
        post(k, f"r{i}", "request", V1_REQUEST)
    assert k.pairer.pending == 2 and k.pairer.pending_bytes == 2 * size


def test_duplicate_side_is_counted_and_ignored() -> None:
    k = intake()
    post(k, "d", "request", V1_REQUEST)
    post(k, "d", "request", V1_REQUEST)
    assert k.pairer.counts()["duplicate"] == 1 and len(post(k, "d", "response", V1_RESPONSE).events) == 2


def test_same_id_in_two_services_does_not_pair() -> None:
    k = intake()
    post(k, "same", "request", V1_REQUEST)
    assert post(k, "same", "response", V2_RESPONSE, service="sklearn-irisv2").events == []
    assert k.pairer.pending == 2


@pytest.mark.parametrize(("headers", "reason"), [
    ({"Ce-Type": "com.example.other"}, "unknown_type"),
    ({"Ce-Id": ""}, "missing_attribute"),
    ({"Ce-Specversion": "0.3"}, "bad_attribute"),
    ({"Ce-Inferenceservicename": "nobody-mapped-me"}, "unknown_service"),
    ({"Ce-Id": "x" * 201}, "bad_attribute"),
])
def test_bad_attributes_are_refused_with_a_reason(headers: dict[str, str], reason: str) -> None:
    k = intake()
    h = {**kserve_headers("id", "request"), **headers}
    out = k.handle("application/json", h, json.dumps(V1_REQUEST).encode(), 0.0, 0.0)
    assert out.reasons == [reason] and k.pairer.pending == 0


def test_not_a_cloudevent_at_all() -> None:
    with pytest.raises(CloudEventError) as err:
        parse_binary({"Content-Type": "application/json"}, b"{}")
    assert err.value.reason == "missing_attribute" and err.value.field == "specversion"


def test_structured_mode_single_and_batch() -> None:
    def structured(ce_id: str, side: str, data: dict[str, Any]) -> dict[str, Any]:
        h = kserve_headers(ce_id, side)
        attrs = {k[3:].lower(): v for k, v in h.items() if k.startswith("Ce-")}
        return {**attrs, "datacontenttype": "application/json", "data": data}

    k = intake()
    out = k.handle(STRUCTURED, {}, json.dumps(structured("s1", "request", V1_REQUEST)).encode(), 0.0, 0.0)
    assert not out.refused and k.pairer.pending == 1
    batch = [structured("s1", "response", V1_RESPONSE), structured("s2", "request", V1_REQUEST),
             structured("s2", "response", V1_RESPONSE)]
    out = k.handle(STRUCTURED_BATCH, {}, json.dumps(batch).encode(), 0.0, 0.0)
    assert [e.event_id for e in out.events] == ["s1:0", "s1:1", "s2:0", "s2:1"]  # type: ignore[attr-defined]
    b64 = {**structured("s3", "request", {}), "data_base64": "eyJpbnN0YW5jZXMiOiBbWzFdXX0="}
    b64.pop("data")
    (ev,) = parse_structured(json.dumps(b64).encode(), batch=False)
    assert json.loads(ev.data) == {"instances": [[1]]}


def test_v1_object_rows_and_score_mapping() -> None:
    mapping = SidecarMapping.model_validate({"kserve": [{
        "inference_service": "fraud", "model_id": "fraud-detector", "model_version": "v1",
        "features": {"amount": {"key": "amount"}, "country": {"key": "country"}},
        "prediction": {"key": "label"}, "score": {"key": "probability"}}]})
    k = KServeIntake(mapping, Pairer(30.0, 10, 1 << 20))
    post(k, "f", "request", {"instances": [{"amount": 12.5, "country": "DE"}]}, service="fraud")
    out = post(k, "f", "response", {"predictions": [{"label": True, "probability": 0.93}]}, service="fraud")
    (e,) = out.events
    assert (e.features, e.prediction, e.score) == ({"amount": 12.5, "country": "DE"}, True, 0.93)  # type: ignore[attr-defined]


def test_a_value_the_contract_refuses_names_the_field_not_the_value() -> None:
    mapping = SidecarMapping.model_validate({"kserve": [{
        "inference_service": "s", "model_id": "m", "model_version": "v1", "score": {}}]})
    k = KServeIntake(mapping, Pairer(30.0, 10, 1 << 20))
    post(k, "p", "request", {"instances": [[1.0]]}, service="s")
    out = post(k, "p", "response", {"predictions": [7.25]}, service="s")  # a score must lie in [0, 1]
    assert out.refused and out.invalid_events == 1 and out.reasons == ["invalid"]
    assert out.problems[0].field == "score" and "7.25" not in str(out.problems)


def test_a_mapped_column_missing_from_the_row_is_refused() -> None:
    k = intake()
    post(k, "short", "request", {"instances": [[6.8, 2.8]]})
    out = post(k, "short", "response", {"predictions": [1]})
    assert out.reasons == ["unmapped"] and out.problems[0].field == "features.petal_length"


def test_mapping_rejects_ambiguous_columns() -> None:
    with pytest.raises(ValueError, match="not both"):
        SidecarMapping.model_validate({"kserve": [{"inference_service": "s", "model_id": "m", "model_version": "v",
                                                   "features": {"a": {"key": "a", "column": 0}}}]})


def test_pairing_docstring_example() -> None:
    result = doctest.testmod(pairing)
    assert result.attempted >= 5 and result.failed == 0


def test_same_id_from_two_components_does_not_pair() -> None:
    k = intake()
    post(k, "same", "request", V1_REQUEST)
    transformer = {**kserve_headers("same", "response"), "Ce-Component": "transformer"}
    out = k.handle("application/json", transformer, json.dumps(V1_RESPONSE).encode(), 0.0, 0.0)
    assert out.events == [] and k.pairer.pending == 2
    assert len(post(k, "same", "response", V1_RESPONSE).events) == 2
