"""The engine (retry, backoff, dead letters, commit after success, stop) and the exec handler."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from stream_monitor.retrain.engine import Engine, StopListening
from stream_monitor.retrain.handlers import Delivery, ExecHandler, HandlerFailed
from stream_monitor.retrain.options import ListenOptions
from stream_monitor.retrain.plan import Incoming, plan
from stream_monitor.retrain.store import DedupStore
from tests.unit.retrain.test_retrain_store_plan import recs, req


class Rig:
    def __init__(self, tmp: Path, handler, **opts) -> None:  # type: ignore[no-untyped-def]
        self.events: list[tuple[str, object]] = []
        self.store = DedupStore(tmp / "store.sqlite")
        options = ListenOptions(backoff_initial_seconds=0.01, backoff_max_seconds=0.02, **opts)

        async def publish(topic, key, value, headers):  # type: ignore[no-untyped-def]
            self.events.append(("dlq", (topic, value, dict(headers))))

        async def commit(record: Incoming) -> None:
            self.events.append(("commit", record.offset))

        async def wrapped(d: Delivery) -> None:
            self.events.append(("run", (d.request.request_id, d.attempt, d.replaces)))
            await handler(d)

        self.engine = Engine(options, wrapped, self.store, publish, commit)

    def run(self, records: list[Incoming]) -> bool:
        return asyncio.run(self.engine.execute(plan(records, lambda r: self.store.get(r) is not None)))


async def ok(d: Delivery) -> None:
    return None


def test_each_request_is_handled_once_and_committed_after_success(tmp_path: Path) -> None:
    rig = Rig(tmp_path, ok)
    assert rig.run(recs(req("a"), req("b")))
    assert rig.events == [("run", ("a", 1, ())), ("commit", 0), ("run", ("b", 1, ())), ("commit", 1)]
    assert rig.run(recs(req("a"), req("b")))  # a re-delivery: the store skips both
    assert [e for e in rig.events if e[0] == "run"] == [("run", ("a", 1, ())), ("run", ("b", 1, ()))]
    assert (rig.engine.stats.handled, rig.engine.stats.skipped) == (2, 2)


def test_failures_are_retried_then_dead_lettered_with_the_reason(tmp_path: Path) -> None:
    async def fail(d: Delivery) -> None:
        raise HandlerFailed("exit status 3")

    rig = Rig(tmp_path, fail, max_attempts=3, dead_letter_topic="dlq")
    raw = req("a").model_dump_json().encode()
    assert rig.run([Incoming("t", 1, 7, b"m", raw, (("own", b"h"), ("stream-monitor.request_id", b"a")))])
    runs = [e[1] for e in rig.events if e[0] == "run"]
    assert runs == [("a", 1, ()), ("a", 2, ()), ("a", 3, ())]
    kind, (topic, value, headers) = rig.events[3]  # type: ignore[misc]
    assert (kind, topic, value) == ("dlq", "dlq", raw)
    assert headers["stream-monitor.reason"] == b"handler_failed"
    assert headers["stream-monitor.message"] == b"exit status 3; 3 attempts"
    assert headers["stream-monitor.request_id"] == b"a" and headers["stream-monitor.attempts"] == b"3"
    assert (headers["stream-monitor.partition"], headers["stream-monitor.offset"], headers["own"]) == (b"1", b"7", b"h")
    assert rig.events[4] == ("commit", 7)
    assert rig.store.get("a").status == "dead_lettered"  # type: ignore[union-attr]
    assert rig.engine.stats.failed_attempts == 3 and rig.engine.stats.dead_lettered["handler_failed"] == 1


def test_a_python_exception_is_a_failure_and_a_later_success_counts(tmp_path: Path) -> None:
    async def flaky(d: Delivery) -> None:
        if d.attempt < 2:
            raise RuntimeError("boom")

    rig = Rig(tmp_path, flaky)
    assert rig.run(recs(req("a")))
    assert rig.engine.stats.failed_attempts == 1 and rig.engine.stats.handled == 1
    assert rig.store.get("a").status == "done"  # type: ignore[union-attr]


def test_poison_is_dead_lettered_committed_and_counted(tmp_path: Path) -> None:
    rig = Rig(tmp_path, ok)
    assert rig.run(recs(b"{", req("a")))
    assert rig.events[0][0] == "dlq" and rig.events[1] == ("commit", 0)
    assert rig.engine.stats.dead_lettered == {"invalid_json": 1}


def test_superseded_is_recorded_and_only_the_newest_runs(tmp_path: Path) -> None:
    rig = Rig(tmp_path, ok)
    assert rig.run(recs(req("a"), req("b", "a")))
    assert rig.events == [("commit", 0), ("run", ("b", 1, ("a",))), ("commit", 1)]
    s = rig.store.get("a")
    assert s is not None and (s.status, s.superseded_by) == ("superseded", "b")
    assert rig.engine.stats.superseded == 1


def test_stop_after_grace_cancels_the_handler_and_leaves_it_unresolved(tmp_path: Path) -> None:
    async def slow(d: Delivery) -> None:
        await asyncio.sleep(30)

    rig = Rig(tmp_path, slow, shutdown_grace_seconds=0.05)

    async def go() -> bool:
        task = asyncio.ensure_future(rig.engine.execute(plan(recs(req("a"), req("b")), lambda _: False)))
        await asyncio.sleep(0.05)
        rig.engine.stopping.set()
        return await task

    assert asyncio.run(go()) is False
    assert rig.events == [("run", ("a", 1, ()))] and rig.store.get("a") is None


def test_stop_within_grace_lets_the_handler_finish(tmp_path: Path) -> None:
    async def short(d: Delivery) -> None:
        await asyncio.sleep(0.1)

    rig = Rig(tmp_path, short, shutdown_grace_seconds=5)

    async def go() -> bool:
        task = asyncio.ensure_future(rig.engine.execute(plan(recs(req("a"), req("b")), lambda _: False)))
        await asyncio.sleep(0.02)
        rig.engine.stopping.set()
        return await task

    assert asyncio.run(go()) is False
    assert rig.events == [("run", ("a", 1, ())), ("commit", 0)]  # b is left for the next run
    assert rig.store.get("a") is not None and rig.store.get("b") is None


def test_stop_listening_leaves_the_request_unresolved(tmp_path: Path) -> None:
    async def stop(d: Delivery) -> None:
        raise StopListening

    rig = Rig(tmp_path, stop)
    assert rig.run(recs(req("a"))) is False
    assert rig.store.get("a") is None and not any(e[0] == "commit" for e in rig.events)


def test_backoff_doubles_up_to_the_bound() -> None:
    o = ListenOptions(backoff_initial_seconds=1, backoff_max_seconds=5)
    assert [o.backoff_seconds(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]
    with pytest.raises(ValueError, match="max_attempts"):
        ListenOptions(max_attempts=0)


SCRIPT = """
import json, os, sys, time
data = json.loads(sys.stdin.read())
env = {k: v for k, v in os.environ.items() if k.startswith("STREAM_MONITOR_")}
open(sys.argv[1], "a").write(json.dumps({"id": data["request_id"], "env": env}) + "\\n")
if sys.argv[2] == "sleep":
    time.sleep(30)
sys.exit(int(sys.argv[2]) if sys.argv[2] != "sleep" else 0)
"""


def _delivery() -> Delivery:
    r = req("r1", "r0")
    return Delivery(r, r.model_dump_json().encode(), ("q", "r0"), 2)


def test_exec_handler_passes_json_on_stdin_and_env(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    h = ExecHandler([sys.executable, "-c", SCRIPT, str(out), "0"], env={"PATH": "/usr/bin:/bin"})
    asyncio.run(h(_delivery()))
    got = json.loads(out.read_text())
    assert got["id"] == "r1"
    assert got["env"] == {"STREAM_MONITOR_REQUEST_ID": "r1", "STREAM_MONITOR_MODEL_ID": "m",
                          "STREAM_MONITOR_MODEL_VERSION": "v1", "STREAM_MONITOR_SEVERITY": "warning",
                          "STREAM_MONITOR_SUPERSEDES": "r0", "STREAM_MONITOR_REPLACES": "q,r0",
                          "STREAM_MONITOR_ATTEMPT": "2"}


def test_exec_handler_failures(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    with pytest.raises(HandlerFailed, match="exit status 4"):
        asyncio.run(ExecHandler([sys.executable, "-c", SCRIPT, str(out), "4"])(_delivery()))
    with pytest.raises(HandlerFailed, match="timed out after 0.5 s"):
        asyncio.run(ExecHandler([sys.executable, "-c", SCRIPT, str(out), "sleep"], timeout_seconds=0.5,
                                kill_grace_seconds=1)(_delivery()))
    with pytest.raises(HandlerFailed, match="cannot start"):
        asyncio.run(ExecHandler([str(tmp_path / "no-such-command")])(_delivery()))
    with pytest.raises(ValueError, match="empty"):
        ExecHandler([])


def test_an_oversized_poison_record_is_cut_to_fit_the_dead_letter_topic(tmp_path: Path) -> None:
    import hashlib

    from stream_monitor.retrain.engine import MAX_DEAD_LETTER_VALUE_BYTES

    rig = Rig(tmp_path, ok)
    big = b"x" * (MAX_DEAD_LETTER_VALUE_BYTES + 10)
    assert rig.run([Incoming("t", 0, 0, b"k" * 200_000, big, (("h", b"v"),))])
    _, (_, value, headers) = rig.events[0]  # type: ignore[misc]
    assert value == big[:MAX_DEAD_LETTER_VALUE_BYTES]
    assert headers["stream-monitor.truncated"] == str(len(big)).encode()
    assert headers["stream-monitor.sha256"] == hashlib.sha256(big).hexdigest().encode()
    assert headers["stream-monitor.dropped"] == b"key,headers" and "h" not in headers
    assert rig.events[1] == ("commit", 0)
