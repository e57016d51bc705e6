"""The contract is what the exported JSON Schemas say: one corpus of good and bad
records, each judged by the pydantic models (through ``decode``, from bytes) and by
``jsonschema`` with format checks on the committed ``schemas/`` files. Both must
agree with the expected verdict, record by record.

JSON Schema judges parsed documents, so the schema side parses with a hook that
refuses a repeated key (the contract allows each key once; RFC 8259 leaves it open).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from stream_monitor.validation import Rejection, decode
from tests.conftest import ROOT

_SCHEMA = {"prediction": "prediction-event", "feature": "feature-event", "label": "label-event"}

P = '"event_id":"e1","model_id":"m","model_version":"v1","prediction":1'
F = '"event_id":"e1","model_id":"m","model_version":"v1","features":{"a":1.5}'
L = '"event_id":"e1","model_id":"m","label":0'
T = '"timestamp":1767225600'

# (topic kind, record text, valid?)
CORPUS: list[tuple[str, str, bool]] = [
    # good records
    ("prediction", "{" + P + "," + T + "}", True),
    ("prediction", "{" + P + ',"timestamp":1767225600.25,"score":0.5,"latency_ms":3}', True),
    ("prediction", "{" + P + ',"timestamp":"2026-01-01T00:00:00Z"}', True),
    ("prediction", "{" + P + ',"timestamp":"2026-01-01T00:00:00.123456+02:00"}', True),
    ("prediction", "{" + P + ',"timestamp":"1971-01-01T00:00:00-12:00"}', True),
    ("prediction", "{" + P + ',"timestamp":"4999-12-31T23:59:59-23:59"}', True),
    ("prediction", "{" + P + "," + T + ',"features":{"a":1,"b":"DE","c":true,"d":null}}', True),
    ("prediction", "{" + P + "," + T + ',"scores":{"yes":0.2,"no":0.8},"attributes":{"region":"north"}}', True),
    ("prediction", '{"kind":"prediction",' + P + "," + T + "}", True),
    ("prediction", '{"event_id":"e1","model_id":"m","model_version":"v1","prediction":"approve",' + T + "}", True),
    ("prediction", "{" + P + "," + T + ',"unknown_field":{"x":[1,2]}}', True),  # unknown fields are ignored
    ("prediction", "{" + P + ",\n  " + T + ' ,"features" : {"a" : 1, "b": "x:y"}}', True),  # white space
    ("feature", "{" + F + "," + T + "}", True),
    ("label", "{" + L + "," + T + "}", True),
    ("label", "{" + L + "," + T + ',"model_version":null}', True),
    ("label", "{" + L + ',"timestamp":0}', True),
    # numeric strings are strings, never numbers
    ("prediction", "{" + P + ',"timestamp":"1767225600"}', False),
    ("prediction", "{" + P + "," + T + ',"score":"0.5"}', False),
    ("prediction", "{" + P + "," + T + ',"latency_ms":"3"}', False),
    ("prediction", "{" + P + "," + T + ',"scores":{"yes":"0.5"}}', False),
    ("prediction", "{" + P + "," + T + ',"score":true}', False),
    ("prediction", '{"event_id":1,"model_id":"m","model_version":"v1","prediction":1,' + T + "}", False),
    ("prediction", '{"event_id":"e","model_id":"m","model_version":2,"prediction":1,' + T + "}", False),
    # every timestamp form is bounded
    ("prediction", "{" + P + ',"timestamp":-1}', False),
    ("prediction", "{" + P + ',"timestamp":1767225600000}', False),
    ("prediction", "{" + P + ',"timestamp":"0001-01-01T00:00:00Z"}', False),
    ("prediction", "{" + P + ',"timestamp":"1969-12-31T23:59:59Z"}', False),
    ("prediction", "{" + P + ',"timestamp":"9999-12-31T23:59:59Z"}', False),
    ("prediction", "{" + P + ',"timestamp":"5000-01-01T00:00:00Z"}', False),
    ("prediction", "{" + P + ',"timestamp":"2026-01-01T00:00:00"}', False),  # no offset
    ("prediction", "{" + P + ',"timestamp":"2026-01-01 00:00:00Z"}', False),
    ("prediction", "{" + P + ',"timestamp":"20260101T000000Z"}', False),  # ISO 8601 basic form
    ("prediction", "{" + P + ',"timestamp":"2026-02-30T00:00:00Z"}', False),
    ("prediction", "{" + P + ',"timestamp":"2026-01-01T00:00:00Z\\n"}', False),
    ("prediction", "{" + P + ',"timestamp":true}', False),
    ("prediction", "{" + P + ',"timestamp":null}', False),
    # duplicate keys, at any depth
    ("prediction", "{" + P + "," + T + ',"model_id":"other"}', False),
    ("prediction", "{" + P + "," + T + "," + T + "}", False),
    ("prediction", "{" + P + "," + T + ',"features":{"a":1,"a":2}}', False),
    ("prediction", "{" + P + "," + T + ',"features":{"a":1, "b":"x:y" ,"a" :2}}', False),
    ("prediction", "{" + P + "," + T + ',"scores":{"yes":0.2,"yes":0.8}}', False),
    ("prediction", "{" + P + "," + T + ',"attributes":{"r":"n","r":"s"}}', False),
    ("prediction", "{" + P + ',"timestamp":"2026-01-01T00:00:00Z","timestamp":"2026-01-01T00:00:00Z"}', False),
    ("prediction", "{" + P + "," + T + ',"note":"a \\"quoted\\": value","note":1}', False),
    ("prediction", "{" + P + "," + T + ',"unknown_field":{"x":1,"x":2}}', False),
    ("feature", "{" + F + "," + T + ',"features":{"a":2}}', False),
    ("label", "{" + L + "," + T + ',"label":1}', False),
    # other violations
    ("prediction", "{" + P + "}", False),
    ("prediction", "{" + P + "," + T + ',"score":1.5}', False),
    ("prediction", "{" + P + "," + T + ',"latency_ms":-1}', False),
    ("prediction", "{" + P + "," + T + ',"features":{"a":{"nested":1}}}', False),
    ("prediction", "{" + P + "," + T + ',"features":{"":1}}', False),
    ("prediction", "{" + P + "," + T + ',"kind":"feature"}', False),
    ("feature", '{"event_id":"e1","model_id":"m","model_version":"v1",' + T + "}", False),
    ("label", '{"event_id":"e1","model_id":"","label":0,' + T + "}", False),
]


def _refuse_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        raise ValueError("repeated key")
    return d


def _schema_says(kind: str, text: str) -> bool:
    try:
        doc = json.loads(text, object_pairs_hook=_refuse_repeats)
    except ValueError:
        return False
    schema = json.loads((ROOT / "schemas" / f"{_SCHEMA[kind]}.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return validator.is_valid(doc)


def _models_say(kind: str, text: str) -> bool:
    out = decode(text.encode(), kind, max_bytes=100_000)  # type: ignore[arg-type]
    assert len(out) == 1
    return not isinstance(out[0], Rejection)


@pytest.mark.parametrize(("kind", "text", "valid"), CORPUS, ids=[f"{i:02d}" for i in range(len(CORPUS))])
def test_models_and_schemas_agree_on_the_corpus(kind: str, text: str, valid: bool) -> None:
    assert _models_say(kind, text) is valid, "pydantic models"
    assert _schema_says(kind, text) is valid, "JSON Schema"


def test_duplicate_keys_are_refused_with_their_own_reason_and_no_value() -> None:
    text = "{" + P + "," + T + ',"features":{"secret-name":1,"secret-name":2}}'
    (rej,) = decode(text.encode(), "prediction", max_bytes=100_000)
    assert isinstance(rej, Rejection)
    assert (rej.reason, rej.message) == ("duplicate_key", "duplicate key in features")


def test_a_duplicate_inside_a_batch_refuses_that_event_only() -> None:
    good = "{" + P + "," + T + "}"
    bad = "{" + P + "," + T + ',"features":{"a":1,"a":2}}'
    for envelope in ('{"kind":"batch","events":[' + good + "," + bad + "," + good + "]}",
                     '{"events": [' + good + ", " + bad + ", " + good + '], "kind": "batch"}'):
        out = decode(envelope.encode(), "prediction", max_bytes=100_000)
        assert [type(x).__name__ for x in out] == ["PredictionEvent", "Rejection", "PredictionEvent"]
        rej = out[1]
        assert isinstance(rej, Rejection) and (rej.reason, rej.index) == ("duplicate_key", 1)
        assert rej.payload is not None and json.loads(rej.payload)["features"] == {"a": 2}
    repeated_kind = '{"kind":"batch","kind":"batch","events":[' + good + "]}"
    (rej,) = decode(repeated_kind.encode(), "prediction", max_bytes=100_000)
    assert isinstance(rej, Rejection) and rej.reason == "duplicate_key"
