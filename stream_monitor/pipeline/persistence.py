"""The monitor's persistence: its whole state, typed or as a snapshot, and restoring one.

:class:`MonitorPersistence` is a base of :class:`~stream_monitor.pipeline.monitor.Monitor`
(beside :class:`~stream_monitor.pipeline.intake.RecordIntake`). Positions and the
state of every model's drift and label path are persisted together, so a restored
monitor goes on from the positions its state is at: replays are skipped, never
counted twice. A model whose parameters changed since the snapshot was taken
starts afresh (:meth:`MonitorPersistence.restore` names it). The snapshot's
format, schema and migrations are in :mod:`~stream_monitor.pipeline.snapshot`.
"""

from __future__ import annotations

from pydantic import JsonValue

from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.errors import SnapshotError
from stream_monitor.pipeline.label_monitor import OutcomeMonitor
from stream_monitor.pipeline.model_monitor import ModelMonitor
from stream_monitor.pipeline.outcome import TopicPartition
from stream_monitor.pipeline.snapshot import MonitorState, decode_snapshot, encode_snapshot
from stream_monitor.windows.persist import assign, capture

__all__ = ["MonitorPersistence"]


class MonitorPersistence:
    """The persistence half of :class:`~stream_monitor.pipeline.monitor.Monitor`. The monitor
    sets the state declared here."""

    models: dict[str, ModelMonitor]
    outcomes: dict[str, OutcomeMonitor]
    positions: dict[TopicPartition, int]
    pending: dict[str, RetrainRequest]  # decided, not yet confirmed published
    newest: dict[str, float]
    learned: dict[str, dict[str, float]]
    routed: dict[tuple[str, int, str], int]
    _caps: dict[str, int]

    def state(self) -> MonitorState:
        """The whole state, typed (:mod:`stream_monitor.pipeline.snapshot`)."""
        return capture(MonitorState, self)

    def to_state(self) -> dict[str, JsonValue]:
        """:meth:`state` as JSON-able data (what a snapshot holds)."""
        data: dict[str, JsonValue] = self.state().model_dump(mode="json", by_alias=True)
        return data

    def snapshot(self) -> bytes:
        """The whole state as compressed JSON (never pickle)."""
        return encode_snapshot(self.state())

    def restore(self, blob: bytes) -> list[str]:
        """Load a :meth:`snapshot` (of this or an older schema). Returns the model ids whose
        state was reset because their parameters changed since the snapshot was taken;
        raises :class:`SnapshotError` when the blob is not a snapshot (state untouched) or
        its parts do not fit the configured models (start from a new monitor then)."""
        data = decode_snapshot(blob)
        try:
            return self._restore(data)
        except (LookupError, TypeError, ValueError) as exc:
            raise SnapshotError(f"snapshot does not fit the configured models: {type(exc).__name__}") from None

    def _restore(self, data: MonitorState) -> list[str]:
        """Restore ``data`` into the configured models: newest times of configured models only,
        learned versions of the models that learn them (at most ``max_versions`` each), each
        model's drift and label path by its own ``load_state``."""
        assign(self, data, skip=("models", "outcomes", "newest"))
        self.newest = {m: t for m, t in data.newest.items() if m in self.models}
        self.learned = {m: dict(list(seen.items())[-self._caps[m]:]) for m, seen in self.learned.items()}
        reset = []
        for model_id, mon in self.models.items():
            saved = data.models.get(model_id)
            if saved is not None and not mon.load_state(saved):
                reset.append(model_id)
        for model_id, om in self.outcomes.items():
            saved_outcomes = data.outcomes.get(model_id)
            if saved_outcomes is not None and not om.load_state(saved_outcomes) and model_id not in reset:
                reset.append(model_id)
        return reset
