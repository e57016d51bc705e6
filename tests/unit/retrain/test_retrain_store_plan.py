"""The dedup store (durable, bounded) and the batch plan (poison, skip, superseding)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream_monitor.decisions.request import ReferenceInfo, RetrainRequest
from stream_monitor.retrain.plan import Handle, Incoming, Poison, Skip, Superseded, plan
from stream_monitor.retrain.store import DedupStore


def req(rid: str, supersedes: str | None = None, model: str = "m", version: str = "v1") -> RetrainRequest:
    return RetrainRequest(request_id=rid, model_id=model, model_version=version, created_at=1.0,
                          severity="warning", consecutive_windows=2, reasons=(),
                          reference=ReferenceInfo(kind="static", source="s", fingerprint="f", rows=1),
                          supersedes=supersedes)


def rec(value: bytes | None, offset: int, partition: int = 0) -> Incoming:
    return Incoming("t", partition, offset, b"m", value, ())


def recs(*requests: RetrainRequest | bytes | None) -> list[Incoming]:
    return [rec(r.model_dump_json().encode() if isinstance(r, RetrainRequest) else r, i)
            for i, r in enumerate(requests)]


def kinds(steps: list) -> list[tuple[str, str | None]]:  # type: ignore[type-arg]
    out = []
    for s in steps:
        if isinstance(s, Handle):
            out.append(("handle", s.request.request_id + ("<" + ",".join(s.replaces) if s.replaces else "")))
        elif isinstance(s, Superseded):
            out.append(("superseded", f"{s.request_id}>{s.by}"))
        elif isinstance(s, Skip):
            out.append(("skip", s.request_id))
        else:
            assert isinstance(s, Poison)
            out.append(("poison", s.reason))
    return out


def test_store_survives_reopen_and_replaces_status(tmp_path: Path) -> None:
    path = tmp_path / "d" / "store.sqlite"
    s = DedupStore(path)
    s.resolve("a", "done")
    s.resolve_many([("b", "superseded", "c"), ("c", "dead_lettered", None)])
    s.close()
    s = DedupStore(path)
    assert s.get("a") is not None and s.get("a").status == "done"  # type: ignore[union-attr]
    b = s.get("b")
    assert b is not None and (b.status, b.superseded_by) == ("superseded", "c")
    assert s.get("zz") is None
    s.resolve("b", "done")
    assert s.get("b").status == "done" and len(s) == 3  # type: ignore[union-attr]
    s.close()


def test_store_is_bounded_and_forgets_the_oldest(tmp_path: Path) -> None:
    s = DedupStore(tmp_path / "s.sqlite", max_entries=10)
    for i in range(25):
        s.resolve(f"r{i}", "done")
    assert len(s) == 10
    assert s.get("r14") is None and s.get("r15") is not None and s.get("r24") is not None
    with pytest.raises(ValueError, match="max_entries"):
        DedupStore(tmp_path / "x.sqlite", max_entries=0)
    s.close()


def test_poison_records_get_a_reason_and_no_values() -> None:
    good = req("ok")
    bad_schema = json.dumps({"request_id": "SECRET-VALUE", "model_id": 3}).encode()
    bad_id = req("a\nb").model_dump_json().encode()
    steps = plan(recs(None, b"{not json", bad_schema, bad_id, good), lambda _: False)
    assert kinds(steps) == [("poison", "empty_payload"), ("poison", "invalid_json"), ("poison", "schema_violation"),
                            ("poison", "invalid_id"), ("handle", "ok")]
    assert all("SECRET" not in s.message for s in steps if isinstance(s, Poison))
    assert "model_id" in steps[2].message  # type: ignore[union-attr]


def test_resolved_and_repeated_ids_are_skipped() -> None:
    steps = plan(recs(req("a"), req("b"), req("a")), lambda rid: rid == "b")
    assert kinds(steps) == [("handle", "a"), ("skip", "b"), ("skip", "a")]


def test_a_chain_of_updates_hands_only_the_newest() -> None:
    other = req("x", model="other")
    steps = plan(recs(req("a"), other, req("b", "a"), req("c", "b")), lambda _: False)
    assert kinds(steps) == [("superseded", "a>b"), ("handle", "x"), ("superseded", "b>c"), ("handle", "c<a,b")]


def test_superseding_a_request_handled_earlier_is_a_normal_request() -> None:
    steps = plan(recs(req("b", "a")), lambda rid: rid == "a")
    assert kinds(steps) == [("handle", "b")]


def test_supersedes_of_another_model_does_not_collapse() -> None:
    steps = plan(recs(req("a"), req("b", "a", model="other"), req("c", "a", version="v2")), lambda _: False)
    assert kinds(steps) == [("handle", "a"), ("handle", "b"), ("handle", "c")]


def test_unknown_keys_in_messages_are_cut_and_escaped() -> None:
    data = json.loads(req("a").model_dump_json())
    data["evil\nkey" + "k" * 500] = 1
    (step,) = plan(recs(json.dumps(data).encode()), lambda _: False)
    assert isinstance(step, Poison) and step.reason == "schema_violation"
    assert "\n" not in step.message and "\\n" in step.message and len(step.message) < 120
