"""Monitor: steps 2-5 for every configured model, over one stream of records.

The app layer feeds raw records (:class:`~stream_monitor.pipeline.outcome.SourceRecord`:
bytes plus where they came from) and a processing time ``now``; it gets back a
frozen :class:`~stream_monitor.pipeline.outcome.Outcome` to hand to the sinks, and
reads the monitors' state through a frozen :meth:`Monitor.view`. Which records are
applied and where their events go is the intake's part (the base class
:class:`~stream_monitor.pipeline.intake.RecordIntake`): positions that make replays
idempotent, null-key routing, the event-time bound and the version allow-list.
Positions and state are persisted together (:meth:`Monitor.snapshot`, the other
base class :class:`~stream_monitor.pipeline.persistence.MonitorPersistence`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

from stream_monitor.decisions.conclusion import WindowReport
from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.detectors.base import DetectorState
from stream_monitor.detectors.streaming import check_model_spec
from stream_monitor.pipeline.feature_join import JoinCounts
from stream_monitor.pipeline.intake import VERSION_PATTERN, RecordIntake
from stream_monitor.pipeline.label_monitor import OutcomeMonitor
from stream_monitor.pipeline.label_versions import DriftTimeline
from stream_monitor.pipeline.model_monitor import ModelMonitor
from stream_monitor.pipeline.outcome import DeadLetter, Intake, Outcome, SourceRecord, TopicPartition, event_facts
from stream_monitor.pipeline.persistence import MonitorPersistence
from stream_monitor.pipeline.snapshot import SNAPSHOT_SCHEMA
from stream_monitor.pipeline.view import MonitorView
from stream_monitor.pipeline.viewing import monitor_view
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.columns import joined_columns
from stream_monitor.windows.profile import ReferenceProfile

# The monitor's own signature types stay importable from here (``Monitor.observe(records) -> Outcome``).
__all__ = ["SNAPSHOT_SCHEMA", "DeadLetter", "Monitor", "Outcome", "SourceRecord"]

_VERSION: Final = re.compile(VERSION_PATTERN)


class Monitor(RecordIntake, MonitorPersistence):
    """Decode, route and monitor records for every configured model.

    Parameters
    ----------
    specs
        The configured models.
    references
        The static reference of each model id, or ``None`` for models that learn
        their reference from the stream.
    max_message_bytes
        Records above this size are dead-lettered unread.
    version_references
        Per model id, the references of versions configured with their own.
    max_event_skew_seconds
        How far ahead of ``now`` and of the newest accepted event time an event
        time may be; None (the default here): no bound. The service sets it from
        ``limits.max_event_skew_seconds`` (one day unless configured).
    version_idle_seconds
        After how long without events (in event time) a learned version's place
        in the allow-list may go to a new version.
    route_null_keys
        Records with a null key are not applied where they landed (a producer
        spreads them over partitions, which would split a model's state): their
        events come back in :attr:`Outcome.routes`, to be published again keyed
        by model id. Copies carry :data:`ROUTED_FROM`; one that was applied
        already (published twice across a crash) is skipped.
    """

    def __init__(
        self,
        specs: Sequence[ModelSpec],
        references: Mapping[str, ReferenceProfile | None],
        *,
        max_message_bytes: int,
        version_references: Mapping[str, Mapping[str, ReferenceProfile]] | None = None,
        max_event_skew_seconds: float | None = None,
        version_idle_seconds: float = 3_600.0,
        route_null_keys: bool = False,
    ) -> None:
        for spec in specs:
            check_model_spec(spec)  # detector parameters that do not build fail here, not mid-stream
        per_version = version_references or {}
        self.models = {
            s.model_id: ModelMonitor(s, references.get(s.model_id), per_version.get(s.model_id)) for s in specs
        }
        self._features = {s.model_id: frozenset(f.name for f in s.features) for s in specs}
        self._versions = {s.model_id: frozenset(s.versions) if s.versions else None for s in specs}
        # The label path (ground truth, fairness) of the models that configure it.
        self.outcomes = {s.model_id: OutcomeMonitor(s, self._input_drift(s.model_id)) for s in specs
                         if s.labels is not None or s.fairness is not None}
        self.max_message_bytes = max_message_bytes
        self.positions: dict[TopicPartition, int] = {}
        self.pending: dict[str, RetrainRequest] = {}  # decided, not yet confirmed published
        self.max_event_skew_seconds = max_event_skew_seconds
        self.version_idle_seconds = version_idle_seconds
        self._caps = {s.model_id: s.max_versions for s in specs}
        # Per model: the newest accepted event time, and the learned versions with the
        # newest event time of each (models that list their versions learn none).
        self.newest: dict[str, float] = {}
        self.learned: dict[str, dict[str, float]] = {s.model_id: {} for s in specs if not s.versions}
        self.route_null_keys = route_null_keys
        # (topic, source partition, model id) -> the last source offset of a routed copy applied
        self.routed: dict[tuple[str, int, str], int] = {}

    # -- the hot path ----------------------------------------------------------------

    def observe(self, records: Iterable[SourceRecord], now: float) -> Outcome:
        batch = Intake()
        for rec in records:
            if self._in_sequence(rec, batch):
                self._take(rec, batch, now)
        return self._evaluate(batch, now)

    def _evaluate(self, b: Intake, now: float) -> Outcome:
        """Hand each model its events, the label path its own, and collect what they decided."""
        given = {m: joined_columns(b.columns.get(m), len(events)) for m, events in b.per_model.items()}
        lags, last_event, latencies, unknown_features = event_facts(b.per_model, self._features, now, given)
        self._remember_times(last_event, b.label_times)
        reports: list[WindowReport] = []
        requests: list[RetrainRequest] = []
        feature_join: dict[str, JoinCounts] = {}
        retired = b.retired
        timelines: dict[str, DriftTimeline] = {}
        for model_id, events in b.per_model.items():
            if model_id in self.outcomes:
                timelines[model_id] = DriftTimeline(self._input_drift(model_id), self.models[model_id].versions)
            out = self.models[model_id].observe(events, given[model_id])
            if model_id in timelines:
                timelines[model_id].marks = out.marks
            if out.feature_join is not None:
                feature_join[model_id] = out.feature_join
            reports.extend(out.reports)
            requests.extend(out.requests)
            retired.extend((model_id, v) for v in out.retired if (model_id, v) not in retired)
            if model_id in self.outcomes:
                for v in out.retired:
                    self.outcomes[model_id].retire(v)
        outcomes = {m: self.outcomes[m].observe(evs, timelines.get(m), b.label_at[m])
                    for m, evs in b.label_path.items()}
        for model_id, batch in outcomes.items():
            requests.extend(batch.requests)
            retired.extend((model_id, v) for v in batch.retired if (model_id, v) not in retired)
        for r in requests:
            self.pending[r.request_id] = r
        return Outcome(
            consumed=dict(b.consumed),
            dead_letters=tuple(b.dead),
            reports=tuple(reports),
            requests=tuple(requests),
            retired=tuple(retired),
            lags=lags,
            latencies=latencies,
            unknown_features=unknown_features,
            duplicates=b.duplicates,
            routes=tuple(b.routes),
            seeks=b.seeks,
            last_event=last_event,
            outcomes=outcomes,
            feature_join=feature_join,
            overflow=dict(b.overflow),
        )

    def finish(self) -> Outcome:
        """Close every open window, drift and label path, at the end of a finite input.

        A library user replaying a file calls this once after the last
        :meth:`observe`; the windows it closes hold fewer events than a full window
        and the outcome is marked ``partial``. They are judged like any other
        window (the policy reports a window below its minimum as insufficient), so
        their requests count like any other. A live worker never calls it: its
        windows stay open until they fill.
        """
        reports: list[WindowReport] = []
        requests: list[RetrainRequest] = []
        for mon in self.models.values():
            for state in list(mon.versions.values()):
                if state.window is not None and state.window.n > 0:
                    report, request = mon._close(state)  # the drift path's own window close
                    reports.append(report)
                    if request is not None:
                        requests.append(request)
        outcomes = {m: om.finish() for m, om in self.outcomes.items()}
        for batch in outcomes.values():
            requests.extend(batch.requests)
        for r in requests:
            self.pending[r.request_id] = r
        return Outcome(reports=tuple(reports), requests=tuple(requests),
                       outcomes={m: b for m, b in outcomes.items() if b.reports}, partial=True)

    def _input_drift(self, model_id: str) -> Callable[[str], bool]:
        """Whether the drift path has a version's inputs in warning or drift (for the label path)."""
        def drifting(version: str) -> bool:
            vs = self.models[model_id].versions.get(version)
            return vs is not None and vs.policy.state is not DetectorState.OK
        return drifting

    def mark_published(self, request_ids: Iterable[str]) -> None:
        """Forget requests whose publication the broker acknowledged."""
        for rid in request_ids:
            self.pending.pop(rid, None)

    # -- what the edges read and set -------------------------------------------------

    def view(self, models: Iterable[str] | None = None, *, windows: bool = False) -> MonitorView:
        """A frozen copy of what the edges read: positions, pending requests, and per model
        (only ``models``, in their order, when given) the drift and label paths' state.
        ``windows``: with the open windows' bin counts (the status page's plots)."""
        return monitor_view(self.positions, self.pending.values(), self.models, self.outcomes, models,
                            windows=windows)

    def set_position(self, topic: str, partition: int, offset: int) -> None:
        """Expect the next record of ``topic[partition]`` at ``offset`` (a partition assigned for the
        first time starts at its log start; a reset log is read again from its new start)."""
        self.positions[(topic, partition)] = offset
