"""Hypothesis check of the duplicate-key detection: whatever the spacing, escapes,
colons and quotes inside strings, timestamps as numbers or RFC 3339 strings, unknown
fields and batch envelopes, ``decode`` refuses a record as ``duplicate_key`` exactly
when one of its objects repeats a key (the cheap counting proof must never let one
through, and must never refuse a record without one)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_monitor.validation import Rejection, decode

SPACES = st.sampled_from(["", " ", "\n", "\t ", "  \r\n"])
# Short names so that repeats are common; strings with colons, quotes, backslashes, non-ASCII.
names = st.text(alphabet="ab:\"\\é", min_size=1, max_size=3)
strings = st.text(alphabet="a:\"\\ é\u2028", max_size=6)
values = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32), st.booleans(), st.none(), strings)


@st.composite
def rendered(draw: st.DrawFn, pairs: list[tuple[str, Any]]) -> str:
    """An object rendered by hand (json.dumps cannot repeat keys), with random spacing
    and, sometimes, escaped non-ASCII."""
    ascii_only = draw(st.booleans())
    parts = []
    for k, v in pairs:
        key = json.dumps(k, ensure_ascii=ascii_only)
        val = v if isinstance(v, _Raw) else json.dumps(v, ensure_ascii=ascii_only)
        parts.append(f"{draw(SPACES)}{key}{draw(SPACES)}:{draw(SPACES)}{val}{draw(SPACES)}")
    return "{" + ",".join(parts) + "}"


class _Raw(str):
    """Already-rendered JSON."""


@st.composite
def event(draw: st.DrawFn) -> tuple[str, bool]:
    features = draw(st.lists(st.tuples(names, values), max_size=6))
    dup = len({k for k, _ in features}) != len(features)
    timestamp: Any = draw(st.sampled_from([1767225600.5, "2026-01-01T00:00:00Z", "2026-01-01T01:00:00.25+01:00"]))
    pairs: list[tuple[str, Any]] = [
        ("event_id", "e"), ("model_id", "m"), ("model_version", "v1"), ("timestamp", timestamp),
        ("prediction", draw(st.sampled_from([1, "yes:no", True]))),
        ("features", _Raw(draw(rendered(features)))),
    ]
    if draw(st.booleans()):
        pairs.append(("note", draw(strings)))  # an unknown field, ignored
    if draw(st.integers(0, 4)) == 0:  # the same value twice: only the repeat is wrong
        repeated = draw(st.sampled_from(pairs[:5]))
        pairs.insert(draw(st.integers(0, len(pairs))), repeated)
        dup = True
    return draw(rendered(pairs)), dup


def _is_dup(item: Any) -> bool:
    return isinstance(item, Rejection) and item.reason == "duplicate_key"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event())
def test_a_single_event_is_refused_exactly_when_a_key_repeats(case: tuple[str, bool]) -> None:
    text, dup = case
    (out,) = decode(text.encode(), "prediction", max_bytes=100_000)
    assert _is_dup(out) is dup, (text, out)
    if not dup:
        assert not isinstance(out, Rejection), (text, out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event(), min_size=1, max_size=4), SPACES)
def test_inside_an_envelope_only_the_events_with_a_repeat_are_refused(cases: list[tuple[str, bool]],
                                                                      space: str) -> None:
    envelope = '{"kind":"batch",' + space + '"events":[' + ",".join(t for t, _ in cases) + "]}"
    out = decode(envelope.encode(), "prediction", max_bytes=100_000)
    assert [_is_dup(x) for x in out] == [d for _, d in cases], envelope
