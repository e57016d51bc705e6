"""ModelMonitor: windows, detectors and decisions for every version of one model.

Each model version has its own window, policy state, streaming detectors and
reference: the one configured for that version (``version_references``), else
the model's static reference, else one learned from the version's first events.
At most ``max_versions`` versions are live; the least recently seen one is
retired (state and metric series dropped) when a new one arrives. Optionally a
rolling reference (the last N healthy windows) is kept beside the static one.
With ``segments`` each version also keeps one window per configured segment
(:mod:`stream_monitor.windows.segments`); with ``feature_join`` feature events
join their prediction by ``event_id`` before reaching the windows
(:mod:`stream_monitor.pipeline.feature_join`). With ``seasonality`` each window
counts its events per phase bucket, and every detector compares it with the
reference mixed to that phase composition (:mod:`stream_monitor.pipeline.seasonal`,
:mod:`stream_monitor.detectors.seasonal_cusum`). Pure: no clock, no I/O.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stream_monitor.decisions.conclusion import WindowReport
from stream_monitor.decisions.policy import decide
from stream_monitor.decisions.request import ReferenceInfo, RetrainRequest, WindowInfo
from stream_monitor.decisions.state import PolicyState
from stream_monitor.detectors.base import DetectorState
from stream_monitor.detectors.calibration import Calibrator
from stream_monitor.detectors.cusum import CusumBank
from stream_monitor.detectors.cusum_signals import CusumLayout
from stream_monitor.detectors.reading import Reading
from stream_monitor.detectors.seasonal_cusum import SeasonalCusum
from stream_monitor.detectors.streaming import StreamingBase, build_streaming, restore_streaming
from stream_monitor.events.models import FeatureEvent, PredictionEvent
from stream_monitor.pipeline.evaluate import evaluate_window
from stream_monitor.pipeline.feature_join import FeatureJoin, JoinCounts
from stream_monitor.pipeline.plan import EvaluationPlan
from stream_monitor.pipeline.references import rolling_profile
from stream_monitor.pipeline.seasonal import PhaseCalibrator, PhaseReference
from stream_monitor.pipeline.segments import segment_quantile, segment_readings
from stream_monitor.pipeline.sequential import event_increments, sequential_layout, sequential_readings
from stream_monitor.pipeline.state import ModelMonitorState, VersionSnapshot
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.profile import PREDICTION, ReferenceProfile, build_profile
from stream_monitor.windows.segments import SegmentWindows, segment_groups
from stream_monitor.windows.window import Window, WindowLayout, feature_columns, float_arrays, next_boundary

__all__ = ["ModelMonitor", "ModelOutcome", "VersionState"]

WindowEvent = PredictionEvent | FeatureEvent
Groups = tuple[str, ...] | None  # an event's segment groups (None: no segment)
_PRED_COLUMN = "__prediction__"


@dataclass(slots=True)
class VersionState:
    version: str
    reference: ReferenceProfile | None
    learned: bool
    policy: PolicyState = field(default_factory=PolicyState)
    layout: WindowLayout | None = None
    window: Window | None = None
    learning: list[dict[str, Any]] | None = None
    last_report: WindowReport | None = None  # in memory only
    streams: dict[str, StreamingBase] = field(default_factory=dict)
    stream_marks: dict[str, int] = field(default_factory=dict)  # detections when the window opened
    healthy: list[Window] = field(default_factory=list)  # the rolling reference's windows
    calibrator: Calibrator | None = None  # in memory only: a pure function of the reference
    plan: EvaluationPlan | None = None  # in memory only: the reference's tests and thresholds
    segments: SegmentWindows | None = None  # per-segment windows, when ``segments`` is configured
    cusum_layout: CusumLayout | None = None  # in memory only: a pure function of the reference
    cusum: CusumBank | None = None  # the sequential detectors' state, when enabled
    incarnation: str = ""  # the event time that started this life of the version (request ids)
    phase: PhaseReference | None = None  # in memory only: the reference per phase bucket (seasonality)
    seasonal_cusum: SeasonalCusum | None = None  # in memory only: the CUSUM tables per phase bucket
    phases: np.ndarray | None = None  # events of the open window per phase bucket (seasonality)

    def start(self, spec: ModelSpec, reference: ReferenceProfile, index: int = 0) -> None:
        det = spec.detectors
        self.reference = reference
        self.layout = WindowLayout.build(spec, reference)
        self.window = Window.empty(index, self.layout)
        self.learning = None
        self.plan = EvaluationPlan.build(spec, reference)
        self.calibrator = Calibrator(resamples=det.calibration_resamples, seed=det.seed)
        self.streams = {
            _stream_name(s.kind, i, det.streaming): build_streaming(s.kind, s.params, every=s.every)
            for i, s in enumerate(det.streaming)
        }
        self.stream_marks = dict.fromkeys(self.streams, 0)
        self.segments = SegmentWindows.empty(spec.segments, self.layout, index) if spec.segments else None
        if spec.seasonality is not None and reference.seasonal is not None:
            self.phase = PhaseReference.cached(reference)
            self.phases = np.zeros(reference.seasonal.buckets, dtype=np.int64)
            self.calibrator = PhaseCalibrator(reference, resamples=det.calibration_resamples, seed=det.seed)
            self.seasonal_cusum = SeasonalCusum.cached(spec, reference)
            self.cusum_layout = self.seasonal_cusum.layout if self.seasonal_cusum is not None else None
        else:
            self.cusum_layout = sequential_layout(spec, reference)
        head = det.sequential.head_start
        self.cusum = CusumBank.empty(self.cusum_layout, head) if self.cusum_layout is not None else None

    def reference_info(self, rolling: ReferenceProfile | None = None) -> ReferenceInfo:
        ref = rolling if rolling is not None else self.reference
        assert ref is not None
        return ReferenceInfo(
            kind="rolling" if rolling is not None else "learned" if self.learned else "static",
            source=ref.source,
            fingerprint=ref.fingerprint(),
            rows=ref.rows,
        )


def _check_seasonal(spec: ModelSpec, reference: ReferenceProfile | None) -> None:
    """Refuse (at start-up) a reference that cannot serve the configured seasonality."""
    season, got = spec.seasonality, reference.seasonal if reference is not None else None
    if season is None or reference is None:
        return
    if got is None:
        raise ValueError(f"model {spec.model_id!r} configures seasonality but its reference {reference.source!r} "
                         "has no per-phase profile (build it with seasonality configured)")
    if (got.period_seconds, got.buckets, got.offset_seconds) != (season.period, season.buckets, season.offset):
        raise ValueError(f"model {spec.model_id!r}: the reference was profiled with another seasonality "
                         f"(period {got.period_seconds:g} s, {got.buckets} buckets); build it again")


def _stream_name(kind: str, i: int, all_specs: Sequence[Any]) -> str:
    """The detector name in readings: its kind, numbered only when a kind repeats."""
    same = [j for j, s in enumerate(all_specs) if s.kind == kind]
    return kind if len(same) == 1 else f"{kind}_{same.index(i) + 1}"


@dataclass(frozen=True, slots=True)
class ModelOutcome:
    reports: tuple[WindowReport, ...] = ()
    requests: tuple[RetrainRequest, ...] = ()
    retired: tuple[str, ...] = ()
    feature_join: JoinCounts | None = None  # with ``feature_join`` configured
    # Where the inputs' drift state changed: (index of the event in the batch that closed the
    # window, version, whether its inputs are in warning or drift after it). The label path
    # reads it per event, so that how a batch is cut never changes what it sees.
    marks: tuple[tuple[int, str, bool], ...] = ()


class ModelMonitor:
    """Runs windows -> detectors -> decisions for one model.

    Parameters
    ----------
    spec
        The model's configuration.
    reference
        The static reference profile, or ``None`` to learn one per version from
        its first ``spec.reference.learn_first_n`` events.
    """

    def __init__(
        self,
        spec: ModelSpec,
        reference: ReferenceProfile | None,
        version_references: Mapping[str, ReferenceProfile] | None = None,
    ) -> None:
        if reference is None and spec.reference.learn_first_n is None:
            raise ValueError(f"model {spec.model_id!r} has no reference and does not learn one")
        for ref in (reference, *(version_references or {}).values()):
            _check_seasonal(spec, ref)
        self.spec = spec
        self.reference = reference
        self.version_references = dict(version_references or {})
        self.params_hash = spec.params_hash() + (reference.fingerprint() if reference else "") + "".join(
            f"/{v}={r.fingerprint()}" for v, r in sorted(self.version_references.items())
        )
        self.versions: dict[str, VersionState] = {}  # least recently seen first
        fj = spec.feature_join
        self.join = FeatureJoin(ttl_seconds=fj.ttl_seconds, max_pending=fj.max_pending) if fj is not None else None

    def _reference_for(self, version: str) -> ReferenceProfile | None:
        return self.version_references.get(version, self.reference)

    def _version(self, version: str, retired: list[str], first_ts: float) -> VersionState:
        state = self.versions.pop(version, None)
        if state is None:
            while len(self.versions) >= self.spec.max_versions:
                oldest = next(iter(self.versions))
                del self.versions[oldest]
                retired.append(oldest)
                if self.join is not None:
                    self.join.drop_version(oldest)
            ref = self._reference_for(version)
            state = VersionState(version, None, learned=ref is None, incarnation=repr(float(first_ts)))
            if ref is not None:
                state.start(self.spec, ref)
            else:
                state.learning = []
        self.versions[version] = state
        return state

    def observe(self, events: Sequence[WindowEvent]) -> ModelOutcome:
        """Add events of this model (any versions, in arrival order)."""
        routed, groups, positions = self._route(events)
        by_version: dict[str, tuple[list[WindowEvent], list[Groups], list[int]]] = {}
        for e, g, at in zip(routed, groups, positions, strict=True):
            evs, gs, ps = by_version.setdefault(e.model_version, ([], [], []))
            evs.append(e)
            gs.append(g)
            ps.append(at)
        reports: list[WindowReport] = []
        requests: list[RetrainRequest] = []
        retired: list[str] = []
        marks: list[tuple[int, str, bool]] = []
        for version, (evs, gs, ps) in by_version.items():
            state = self._version(version, retired, evs[0].timestamp)
            rest: Sequence[WindowEvent] = evs
            if state.learning is not None:
                rest = self._learn(state, evs)
            if rest:
                skip = len(evs) - len(rest)
                self._windows(state, rest, gs[skip:], reports, requests, (ps[skip:], marks))
        counts = None
        if self.join is not None:
            expired, orphaned, duplicates, joined = self.join.drain()
            counts = JoinCounts(expired, orphaned, duplicates, joined)
        return ModelOutcome(tuple(reports), tuple(requests), tuple(retired), counts, tuple(sorted(marks)))

    def _route(self, events: Sequence[WindowEvent]) -> tuple[Sequence[WindowEvent], list[Groups], list[int]]:
        """The events the windows see, with their segment groups and the index in ``events`` of
        the event that let each through.

        Without the feature join that is every event; predictions carry their
        groups, feature events none. With it, feature events reach the windows
        only once joined to their prediction (the first of the two to come
        waits), with the prediction's groups.
        """
        segs = self.spec.segments
        if self.join is None:
            if not segs:
                return events, [None] * len(events), list(range(len(events)))
            return events, [segment_groups(e.attributes, segs) if isinstance(e, PredictionEvent) else None
                            for e in events], list(range(len(events)))
        out: list[WindowEvent] = []
        groups: list[Groups] = []
        for e in events:
            if isinstance(e, PredictionEvent):
                g = segment_groups(e.attributes, segs)
                out.append(e)
                groups.append(g)
                if e.features:
                    self.join.advance(e.timestamp)  # complete already; its time still moves the watermark
                else:
                    got = self.join.add_prediction(e.event_id, e.model_version, e.timestamp, list(g))
                    if got is not None:
                        out.append(FeatureEvent.model_construct(
                            event_id=e.event_id, model_id=e.model_id, model_version=e.model_version,
                            timestamp=got[0], features=got[1]))
                        groups.append(g)
            else:
                joined = self.join.add_features(e.event_id, e.model_version, e.timestamp, e.features)
                if joined is not None:
                    out.append(e)
                    groups.append(tuple(joined))
        return out, groups, _positions(events, out)

    def _learn(self, state: VersionState, events: Sequence[WindowEvent]) -> Sequence[WindowEvent]:
        assert state.learning is not None and self.spec.reference.learn_first_n is not None
        need = self.spec.reference.learn_first_n - len(state.learning)
        taken = 0
        for e in events:
            if taken >= need:
                break
            row: dict[str, Any] = dict(e.features or {})
            if isinstance(e, PredictionEvent):
                row[_PRED_COLUMN] = (e.score if (e.score is not None and self.spec.prediction.type == "score")
                                     else e.prediction)
                taken += 1
            state.learning.append(row)
        if taken >= need:
            profile = build_profile(
                self.spec,
                state.learning,
                source=f"learned from the first {self.spec.reference.learn_first_n} events",
                prediction_column=(_PRED_COLUMN,),
            )
            state.start(self.spec, profile)
        consumed = 0
        counted = 0
        for e in events:  # skip exactly the events used for learning
            if counted >= need:
                break
            consumed += 1
            counted += isinstance(e, PredictionEvent)
        return events[consumed:]

    def _windows(
        self,
        state: VersionState,
        events: Sequence[WindowEvent],
        groups: Sequence[Groups],
        reports: list[WindowReport],
        requests: list[RetrainRequest],
        marking: tuple[Sequence[int], list[tuple[int, str, bool]]],
    ) -> None:
        assert state.window is not None and state.layout is not None
        positions, marks = marking
        ts = [e.timestamp for e in events]
        counted = [isinstance(e, PredictionEvent) for e in events]
        raw = feature_columns(events, state.layout.names)  # read once for the windows and the CUSUMs
        columns = float_arrays(raw, [n for n, _ in state.layout.numeric]) if raw is not None else None
        phases = state.phase.season.weights_of(np.asarray(ts)) if state.phase is not None else None
        increments: np.ndarray | None
        if state.seasonal_cusum is not None and phases is not None and state.cusum is not None:
            increments = state.seasonal_cusum.increments(events, phases, self.spec.prediction.type, columns)
        else:
            increments = (event_increments(state.cusum_layout, events, self.spec.prediction.type, columns)
                          if state.cusum is not None and state.cusum_layout is not None else None)
        i = 0
        while i < len(events):
            w = state.window
            end, closes = next_boundary(ts, counted, i, w.n, w.first_ts, self.spec.window)
            if state.cusum is not None and increments is not None:
                # An alarm closes the window at its event, unless the model already drifts.
                early = state.policy.state is not DetectorState.DRIFT
                stop = state.cusum.scan(increments[i:end], stop_on_alarm=early)
                if stop is not None:
                    end, closes = i + stop + 1, True
            w.add(events[i:end], state.layout,
                  None if columns is None else {n: c[i:end] for n, c in columns.items()})
            if state.segments is not None:
                state.segments.add(events[i:end], groups[i:end])
            if phases is not None and state.phases is not None and state.phase is not None:
                state.phases += state.phase.season.composition(*(x[i:end] for x in phases))
            if state.streams:
                self._stream(state, events[i:end])
            i = end
            if closes:
                report, request = self._close(state)
                reports.append(report)
                if request is not None:
                    requests.append(request)
                if positions:
                    marks.append((positions[end - 1], state.version, state.policy.state is not DetectorState.OK))

    def _stream(self, state: VersionState, events: Sequence[WindowEvent]) -> None:
        """Feed the per-event signal (the score) to the streaming detectors, in order."""
        assert state.layout is not None
        for e in events:
            if not isinstance(e, PredictionEvent):
                continue
            value = state.layout.prediction_value(e)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            for det in state.streams.values():
                det.update(float(value))

    def _stream_readings(self, state: VersionState, w: Window) -> list[Reading]:
        """One reading per streaming detector: how often it fired during the window."""
        out = []
        for name, det in state.streams.items():
            fired = det.detections - state.stream_marks.get(name, 0)
            out.append(Reading(PREDICTION, name, "detections", float(fired), 0.5, None, False, w.n, 0))
            state.stream_marks[name] = det.detections
        return out

    def _close(self, state: VersionState) -> tuple[WindowReport, RetrainRequest | None]:
        assert state.window is not None and state.layout is not None and state.reference is not None
        assert state.plan is not None
        w, plan = state.window, state.plan
        ref_spec = self.spec.reference
        segs = state.segments
        reference, embedding = state.reference, state.layout.embedding
        if state.phase is not None and state.phases is not None and state.phases.sum() > 0:
            shares = state.phases / state.phases.sum()  # the window's phase composition
            reference, embedding = state.phase.mix(shares), state.phase.embedding(embedding, shares)
        # Segment tests share the window's false-alarm budget (distance quantile and p-value correction).
        quantile = segment_quantile(w, segs, reference, plan) if segs is not None else None
        readings, quality = evaluate_window(w, reference, plan, state.calibrator, embedding, quantile=quantile)
        readings.extend(self._stream_readings(state, w))
        if state.cusum is not None and state.cusum_layout is not None:
            readings.extend(sequential_readings(state.cusum_layout, state.cusum, w.n, reference.rows))
        if segs is not None and quantile is not None:
            readings.extend(segment_readings(segs, reference, plan, state.calibrator, quantile))
        rolling = None
        if ref_spec.rolling_windows is not None and len(state.healthy) >= ref_spec.rolling_windows:
            rolling = rolling_profile(state.reference, state.healthy)
        decide_on = "static"
        if rolling is not None:
            against, _ = evaluate_window(w, rolling, plan, state.calibrator)
            readings.extend(dataclasses.replace(r, reference="rolling") for r in against)
            decide_on = "rolling" if ref_spec.rolling_use == "decide" else "static"
        info = WindowInfo(index=w.index, start=w.start_ts, end=w.end_ts, events=w.n)
        report, request = decide(
            readings,
            quality,
            self.spec,
            state.policy,
            model_version=state.version,
            window=info,
            reference=state.reference_info(rolling if decide_on == "rolling" else None),
            params_hash=self.params_hash,
            decide_on=decide_on,
            incarnation=state.incarnation,
        )
        if ref_spec.rolling_windows is not None and not report.insufficient and not report.model_drift:
            state.healthy = [*state.healthy, w][-ref_spec.rolling_windows:]
        state.last_report = report
        state.window = Window.empty(w.index + 1, state.layout)
        if state.cusum is not None:
            state.cusum.open_window()
        if segs is not None:
            segs.reset(w.index + 1)
        if state.phases is not None:
            state.phases = np.zeros_like(state.phases)
        return report, request

    # -- persistence -----------------------------------------------------------------

    def to_state(self) -> ModelMonitorState:
        versions = {}
        for v, s in self.versions.items():
            versions[v] = VersionSnapshot(
                reference=s.reference if (s.learned and s.reference) else None,
                learning=s.learning,
                window=s.window.to_state() if s.window is not None else None,
                policy=s.policy,
                streams={k: d.to_state() for k, d in s.streams.items()},
                stream_marks=s.stream_marks,
                healthy=[h.to_state() for h in s.healthy],
                incarnation=s.incarnation,
                cusum=s.cusum.to_state() if s.cusum is not None else None,
                segments=s.segments.to_state() if s.segments is not None else None,
                phases=s.phases.tolist() if s.phases is not None else None,
            )
        return ModelMonitorState(params=self.params_hash, versions=versions,
                                 feature_join=self.join.to_state() if self.join is not None else None)

    def load_state(self, data: ModelMonitorState) -> bool:
        """Restore from :meth:`to_state`. Returns ``False`` (and keeps a fresh state)
        when the parameters that shaped the state have changed."""
        if data.params != self.params_hash:
            return False
        self.versions = {}
        for v, d in data.versions.items():
            configured = self._reference_for(v)
            s = VersionState(v, None, learned=configured is None, incarnation=d.incarnation)
            ref = configured if configured is not None else d.reference
            if ref is not None:
                s.start(self.spec, ref)
                self._load_detectors(s, d)
            else:
                s.learning = list(d.learning or [])
            s.policy = copy.deepcopy(d.policy)
            self.versions[v] = s
        if self.join is not None and data.feature_join is not None:
            self.join.load_state(data.feature_join)
        return True

    def _load_detectors(self, s: VersionState, d: VersionSnapshot) -> None:
        """The window and the detectors' state of a started version."""
        assert s.layout is not None
        s.window = Window.from_state(d.window, s.layout) if d.window is not None else s.window
        assert s.window is not None
        s.streams.update({k: restore_streaming(x) for k, x in d.streams.items() if k in s.streams})
        s.stream_marks.update({k: x for k, x in d.stream_marks.items() if k in s.streams})
        s.healthy = [Window.from_state(h, s.layout) for h in d.healthy]
        if s.cusum_layout is not None and d.cusum is not None:
            head = self.spec.detectors.sequential.head_start
            s.cusum = CusumBank.from_state(d.cusum, s.cusum_layout, head) or s.cusum
        # Segments configured differently (or newly) start fresh.
        if s.segments is not None and not s.segments.load_state(d.segments):
            s.segments.reset(s.window.index)
        if s.phases is not None and d.phases is not None and len(d.phases) == s.phases.size:
            s.phases = np.asarray(d.phases, dtype=np.int64)


def _positions(events: Sequence[WindowEvent], out: Sequence[WindowEvent]) -> list[int]:
    """For each routed event, the index in ``events`` of the arrival that let it through: the
    event itself, or for a joined feature event built on arrival of its prediction, the
    prediction (the routed list keeps arrival order)."""
    index = {id(e): i for i, e in enumerate(events)}
    positions: list[int] = []
    last = 0
    for e in out:
        last = index.get(id(e), last)  # built on its prediction's arrival: that prediction's index
        positions.append(last)
    return positions
