"""The window half of :class:`~stream_monitor.pipeline.model_monitor.ModelMonitor`: feeding and closing windows.

:class:`ModelWindows` feeds a version's events to its open window, its segment
windows (with ``segments``), its phase counts (with ``seasonality``), its
streaming detectors and its CUSUMs, and closes the window when it is full or a
CUSUM alarms. Closing evaluates the window against the version's reference
(with ``seasonality``: mixed to the window's phase composition,
:mod:`stream_monitor.pipeline.seasonal`), and, once the version has the last N
healthy windows, against the rolling reference built from them; the policy then
decides the window and the next one opens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stream_monitor.decisions.conclusion import WindowReport
from stream_monitor.decisions.policy import decide
from stream_monitor.decisions.request import RetrainRequest, WindowInfo
from stream_monitor.detectors.base import DetectorState
from stream_monitor.detectors.reading import Quality, Reading
from stream_monitor.events.models import PredictionEvent
from stream_monitor.pipeline.evaluate import evaluate_window, rolling_profile, segment_quantile, segment_readings
from stream_monitor.pipeline.sequential import event_increments, sequential_readings
from stream_monitor.pipeline.version_state import Groups, VersionState, WindowEvent
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.accumulators import Binned, bin_columns
from stream_monitor.windows.columns import Column, feature_columns, float_arrays, named_columns, prediction_values
from stream_monitor.windows.profile import PREDICTION
from stream_monitor.windows.window import Window, next_boundary

__all__ = ["ModelWindows"]

Phases = tuple[np.ndarray, np.ndarray, np.ndarray]  # each event's phase weights (seasonality)


class ModelWindows:
    """The window half of :class:`~stream_monitor.pipeline.model_monitor.ModelMonitor`: a base class; the
    monitor sets the state declared here."""

    spec: ModelSpec
    params_hash: str

    def _windows(
        self,
        state: VersionState,
        events: Sequence[WindowEvent],
        groups: Sequence[Groups],
        reports: list[WindowReport],
        requests: list[RetrainRequest],
        marking: tuple[Sequence[int], list[tuple[int, str, bool]]],
        given: Mapping[str, Sequence[Any]] | None = None,
    ) -> None:
        assert state.window is not None and state.layout is not None
        positions, marks = marking
        ts = [e.timestamp for e in events]
        counted = [isinstance(e, PredictionEvent) for e in events]
        columns, predictions, bins = _read(state, events, given)  # once for the windows and the CUSUMs
        phases = state.phase.season.weights_of(np.asarray(ts)) if state.phase is not None else None
        increments = self._increments(state, events, phases, (columns, predictions, bins))
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
                  None if columns is None else {n: c[i:end] for n, c in columns.items()},
                  {n: (b, x[i:end]) for n, (b, x) in bins.items()},
                  None if predictions is None else predictions[i:end])
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

    def _increments(self, state: VersionState, events: Sequence[WindowEvent], phases: Phases | None,
                    read: tuple[dict[str, Column] | None, Column | None, dict[str, Binned]]) -> np.ndarray | None:
        """The CUSUMs' increments of the batch (``None`` without CUSUMs), from what :func:`_read` read."""
        columns, predictions, bins = read
        if state.seasonal_cusum is not None and phases is not None and state.cusum is not None:
            return state.seasonal_cusum.increments(events, phases, self.spec.prediction.type, columns)
        if state.cusum is None or state.cusum_layout is None:
            return None
        return event_increments(state.cusum_layout, events, self.spec.prediction.type, columns, predictions, bins)

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
        readings, quality = self._readings(state)
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
        _open_next(state, w.index + 1)
        return report, request

    def _readings(self, state: VersionState) -> tuple[list[Reading], list[Quality]]:
        """The closing window's readings and quality rates against the version's reference (mixed to
        the window's phase composition, with ``seasonality``): window tests, streaming and sequential
        detectors, segments."""
        assert state.window is not None and state.layout is not None and state.reference is not None
        assert state.plan is not None
        w, plan = state.window, state.plan
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
        return readings, quality


def _read(state: VersionState, events: Sequence[WindowEvent], given: Mapping[str, Sequence[Any]] | None) -> tuple[
        dict[str, Column] | None, Column | None, dict[str, Binned]]:
    """The batch's feature columns (``given``, else read from the events: ``None`` unless every
    event has features), prediction values (``None`` when nothing reads them) and their bins
    by the window's layout."""
    layout = state.layout
    assert layout is not None
    raw = feature_columns(events, layout.names) if given is None else named_columns(given, layout.names, len(events))
    columns = float_arrays(raw, [n for n, _ in layout.numeric]) if raw is not None else None
    bins = bin_columns((*layout.numeric, *layout.categorical), columns) if columns is not None else {}
    predictions: Column | None = None
    if layout.prediction is not None or (state.cusum_layout is not None and state.cusum is not None):
        predictions = float_arrays({PREDICTION: prediction_values(events, layout.prediction_type)},
                                   [PREDICTION])[PREDICTION]
        if layout.prediction is not None:
            bins.update(bin_columns([(PREDICTION, layout.prediction)], {PREDICTION: predictions}))
    return columns, predictions, bins


def _open_next(state: VersionState, index: int) -> None:
    """Open the version's window ``index`` and restart what counts per window."""
    assert state.layout is not None
    state.window = Window.empty(index, state.layout)
    if state.cusum is not None:
        state.cusum.open_window()
    if state.segments is not None:
        state.segments.reset(index)
    if state.phases is not None:
        state.phases = np.zeros_like(state.phases)
