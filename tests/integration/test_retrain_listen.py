"""`stream-monitor retrain-listen` and the Python iterator against the real broker (Tansu).

Every handler run appends to a file (`start <id> <attempt> <pid>`, then `done <id> <replaces>
<supersedes>`); the tests compare those lines with an oracle: which requests must run, how often,
what was dead-lettered, and that a kill -9 loses nothing and repeats nothing that succeeded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.retrain import RetrainRequests
from stream_monitor.retrain.store import DedupStore
from stream_monitor.tools.broker import EmbeddedBroker
from stream_monitor.tools.kafka_admin import create_topics
from tests.conftest import ROOT
from tests.unit.retrain.test_retrain_store_plan import req

from .kafka_helpers import produce, read_topic, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.broker]

HANDLER = """
import json, os, sys, time
control = sys.argv[2]
data = json.loads(sys.stdin.read())
rid, env = data["request_id"], os.environ
def note(line):
    with open(sys.argv[1], "a") as fh:
        fh.write(line + "\\n")
        fh.flush()
        os.fsync(fh.fileno())
note(f"start {rid} {env['STREAM_MONITOR_ATTEMPT']} {os.getpid()}")
if os.path.exists(os.path.join(control, "fail-" + rid)):
    sys.exit(3)
while os.path.exists(os.path.join(control, "block")):
    time.sleep(0.05)
note(f"done {rid} {env['STREAM_MONITOR_REPLACES'] or '-'} {env['STREAM_MONITOR_SUPERSEDES'] or '-'}")
"""


class Listener:
    """One retrain-listen process after another, on the same group, store and run file."""

    def __init__(self, broker: EmbeddedBroker, tmp: Path, *extra: str) -> None:
        self.tmp = tmp
        self.topic = f"retrain{os.getpid()}-{time.monotonic_ns() % 10**9}"
        self.dlq = self.topic + "-dlq"
        self.bootstrap = broker.bootstrap
        create_topics(broker.bootstrap, [self.topic, self.dlq], 2)
        self.runs = tmp / "runs.txt"
        self.control = tmp / "control"
        self.control.mkdir()
        (tmp / "handler.py").write_text(HANDLER)
        self.store = tmp / "dedup.sqlite"
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tmp / "listener.log"
        self.starts = 0

    def start(self, *extra: str) -> Listener:
        cmd = [sys.executable, "-m", "stream_monitor", "retrain-listen",
               "--exec", f"{sys.executable} {self.tmp / 'handler.py'} {self.runs} {self.control}",
               "--bootstrap-servers", self.bootstrap, "--topic", self.topic, "--dead-letter-topic", self.dlq,
               "--group-id", self.topic + "-group", "--store", str(self.store), "--max-attempts", "3",
               "--backoff-initial-seconds", "0.1", "--backoff-max-seconds", "0.2",
               "--session-timeout-seconds", "6", *self.extra, *extra]
        with self.log.open("ab") as log:
            log.write(f"\n=== start {self.starts} ===\n".encode())
            log.flush()
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        self.starts += 1
        return self

    def send(self, *requests: RetrainRequest | bytes) -> None:
        produce(self.bootstrap, self.topic,
                [r.model_dump_json().encode() if isinstance(r, RetrainRequest) else r for r in requests], key=b"m")

    def lines(self, kind: str) -> list[list[str]]:
        text = self.runs.read_text() if self.runs.exists() else ""
        return [line.split()[1:] for line in text.splitlines() if line.startswith(kind + " ")]

    def done(self) -> list[str]:
        return [parts[0] for parts in self.lines("done")]

    def wait_done(self, *ids: str, timeout: float = 90.0) -> None:
        wait_for(lambda: set(ids) <= set(self.done()), timeout, 0.2, what=f"handler done for {ids}; see {self.log}")

    def stop(self) -> dict[str, object]:
        """SIGTERM; the exit status is 0 and the last line is the counters."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(60) == 0, self.log.read_text()[-3000:]
        last = [line for line in self.log.read_text().splitlines() if line.startswith('{"retrain_listen"')][-1]
        return json.loads(last)["retrain_listen"]  # type: ignore[no-any-return]

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture
def listener(broker: EmbeddedBroker, tmp_path: Path):  # type: ignore[no-untyped-def]
    lst = Listener(broker, tmp_path)
    yield lst
    if lst.process is not None and lst.process.poll() is None:
        lst.kill()
    (lst.control / "block").unlink(missing_ok=True)  # a handler that outlived its listener ends


def test_handled_once_failures_retried_then_dead_lettered_poison_dead_lettered(listener: Listener) -> None:
    (listener.control / "fail-c").touch()
    listener.start()
    listener.send(req("a"), req("b"), b"{not json", req("c"), req("d"))
    listener.wait_done("a", "b", "d")
    assert Counter(p[0] for p in listener.lines("start")) == {"a": 1, "b": 1, "c": 3, "d": 1}
    assert [p[1] for p in listener.lines("start") if p[0] == "c"] == ["1", "2", "3"]
    dlq = read_topic(listener.bootstrap, listener.dlq, quiet=2.0)
    reasons = sorted((r.headers["stream-monitor.reason"], r.headers.get("stream-monitor.request_id")) for r in dlq)
    assert reasons == [(b"handler_failed", b"c"), (b"invalid_json", None)]
    assert {r.value for r in dlq} == {b"{not json", req("c").model_dump_json().encode()}
    stats = listener.stop()
    assert stats == {"handled": 3, "skipped": 0, "superseded": 0, "failed_attempts": 3, "commit_failures": 0,
                     "dead_lettered": {"handler_failed": 1, "invalid_json": 1}}
    # A restart resumes after the committed offsets: nothing runs again, a new request does.
    listener.start()
    listener.send(req("e"))
    listener.wait_done("e")
    assert listener.done() == ["a", "b", "d", "e"]
    assert listener.stop()["skipped"] == 0


def test_an_update_supersedes_a_request_not_yet_handled(listener: Listener) -> None:
    listener.send(req("a"), req("b", supersedes="a"), req("c", supersedes="b"))
    listener.start("--coalesce-seconds", "1")
    listener.wait_done("c")
    listener.send(req("d", supersedes="c"))  # c was handled: d is new evidence, handled too
    listener.wait_done("d")
    assert listener.lines("done") == [["c", "a,b", "b"], ["d", "-", "c"]]
    assert listener.stop()["superseded"] == 2
    store = DedupStore(listener.store)
    assert [(s.status, s.superseded_by) for s in (store.get("a"), store.get("b"))] == [  # type: ignore[union-attr]
        ("superseded", "b"), ("superseded", "c")]
    store.close()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_kill_9_mid_handler_runs_the_request_again_and_never_loses_it(listener: Listener) -> None:
    (listener.control / "block").touch()
    listener.start()
    listener.send(req("a"))
    wait_for(lambda: listener.lines("start"), 60, 0.2, what="handler started")
    listener.kill()
    pid = int(listener.lines("start")[0][2])
    wait_for(lambda: _gone(pid), 10, 0.1, what="the handler to die with the listener")
    (listener.control / "block").unlink()
    listener.start()
    listener.wait_done("a")
    listener.send(req("b"))
    listener.wait_done("b")
    assert [p[0] for p in listener.lines("start")] == ["a", "a", "b"]
    assert listener.done() == ["a", "b"]
    assert listener.stop()["handled"] == 2


def test_sigterm_mid_handler_stops_the_command_exits_0_and_hands_the_request_over(listener: Listener) -> None:
    (listener.control / "block").touch()
    listener.start("--shutdown-grace-seconds", "1")
    listener.send(req("a"))
    wait_for(lambda: listener.lines("start"), 60, 0.2, what="handler started")
    stats = listener.stop()
    assert (stats["handled"], stats["failed_attempts"]) == (0, 0)
    assert _gone(int(listener.lines("start")[0][2]))
    (listener.control / "block").unlink()
    listener.start()
    listener.wait_done("a")
    assert [p[0] for p in listener.lines("start")] == ["a", "a"] and listener.done() == ["a"]
    assert listener.stop()["handled"] == 1


def test_a_lost_commit_after_success_does_not_run_the_request_twice(listener: Listener) -> None:
    listener.start("--fault-kill-before-commit")
    listener.send(req("a"))
    listener.wait_done("a")
    assert listener.process is not None
    assert listener.process.wait(30) == -signal.SIGKILL  # killed itself between the store and the commit
    listener.start()
    listener.send(req("b"))
    listener.wait_done("b")
    stats = listener.stop()
    assert listener.done() == ["a", "b"]
    assert (stats["skipped"], stats["handled"]) == (1, 1)  # a came again (the commit was lost) and was skipped


def test_the_iterator_acknowledges_a_request_when_the_loop_asks_for_the_next(listener: Listener) -> None:
    listener.send(req("a"), req("b"), req("c"))
    opts = {"bootstrap_servers": listener.bootstrap, "topic": listener.topic, "dead_letter_topic": listener.dlq,
            "group_id": listener.topic + "-it", "store_path": listener.store, "session_timeout_seconds": 6.0}
    seen: list[str] = []
    with pytest.raises(RuntimeError, match="training failed"), RetrainRequests(**opts) as requests:
        for request in requests:
            seen.append(request.request_id)
            if request.request_id == "b":
                raise RuntimeError("training failed")
    with RetrainRequests(**opts) as requests:
        for request in requests:
            seen.append(request.request_id)
            if request.request_id == "c":
                break
    assert seen == ["a", "b", "b", "c"]
    assert requests.stats.handled == 1  # b; c was left unacknowledged by the break


@pytest.mark.parametrize("page", ["docs/retrain-consumer.md", "README.md"])
def test_the_documented_python_job_retrains_each_request(listener: Listener, page: str) -> None:
    doc = (ROOT / page).read_text()
    job = next(b.split("```", 1)[0] for b in doc.split("```python\n")[1:] if "RetrainRequests" in b)
    assert len(job.strip().splitlines()) <= 12
    for old, new in [('"127.0.0.1:9092"', repr(listener.bootstrap)),
                     ('group_id="fraud-retrainer"', f'group_id="{listener.topic}-doc", topic="{listener.topic}"'),
                     ('"retrain-dedup.sqlite"', repr(str(listener.tmp / "doc.sqlite")))]:
        assert old in job
        job = job.replace(old, new)
    pkg = listener.tmp / "lib" / "my_project"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "import json\n"
        "def retrain_model(model_id, version, features):\n"
        f"    with open({str(listener.runs)!r}, 'a') as fh:\n"
        "        fh.write('done ' + json.dumps([model_id, version, list(features)]) + '\\n')\n")
    (listener.tmp / "job.py").write_text(job)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(listener.tmp / "lib"), os.environ.get("PYTHONPATH", "")])}
    listener.send(req("a"), req("b", model="other").model_copy(update={"features": ("amount",)}))
    with (listener.tmp / "job.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, str(listener.tmp / "job.py")], stdout=log,  # noqa: S603
                                stderr=subprocess.STDOUT, env=env)
    try:
        wait_for(lambda: len(listener.lines("done")) == 2, 90, 0.2, what="the documented job")
    finally:
        proc.terminate()
        proc.wait(30)
    assert [json.loads(line.split(" ", 1)[1]) for line in listener.runs.read_text().splitlines()] == [
        ["m", "v1", []], ["other", "v1", ["amount"]]]
