"""``stream_monitor.Monitor``: feed events in a loop, get the worker's decisions.

A thin shell over the core :class:`stream_monitor.pipeline.monitor.Monitor` that the
worker and ``stream-monitor backtest`` run: each event is encoded to the JSON a
producer would send and consumed as a record of one partition, so the same
events in the same order give the same windows, decisions and request ids as
the worker and the backtest, whatever the batch sizes. ``finish()`` closes the
open windows at the end of a finite input (as the backtest does).

Events are given in their wire format: dicts (``kind`` defaults to
``prediction``), the pydantic event models, or JSON (``bytes``/``str``). A
pandas DataFrame or Arrow table is read row by row as flat events: the event
fields (``event_id``, ``model_id``, ``model_version``, ``timestamp``,
``prediction``, ``score``, ``scores``, ``attributes``, ``latency_ms``, ``label``,
``kind``) are taken from their columns and every other column is a feature. Events the monitor refuses come back in
:attr:`Update.rejected` with the reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from stream_monitor.api.result import Rejected
from stream_monitor.api.tables import RESERVED, TableLike, cell
from stream_monitor.decisions.conclusion import WindowReport
from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.pipeline.monitor import Monitor as CoreMonitor
from stream_monitor.pipeline.outcome import Outcome, SourceRecord
from stream_monitor.settings import ServiceSettings
from stream_monitor.windows.profile import ReferenceProfile

__all__ = ["Monitor", "Update"]

EventLike = Mapping[str, object] | BaseModel | bytes | str


@dataclass(frozen=True, slots=True)
class Update:
    """What one :meth:`Monitor.update` (or :meth:`Monitor.finish`) decided."""

    windows: tuple[WindowReport, ...]
    label_windows: tuple[WindowReport, ...]
    requests: tuple[RetrainRequest, ...]
    rejected: tuple[Rejected, ...]
    partial: bool = False  # from finish(): the windows closed before they were full

    @property
    def request_ids(self) -> tuple[str, ...]:
        return tuple(r.request_id for r in self.requests)


EVENT_FIELDS = RESERVED | {"attributes", "latency_ms", "scores", "label"}


def _absent(v: object) -> bool:
    return v is None or (isinstance(v, float) and v != v)  # NaN: a missing cell of a DataFrame


def _flat(row: Mapping[str, object]) -> dict[str, object]:
    """A flat table row as an event: event fields from their columns, the rest as features."""
    event: dict[str, object] = {str(k): cell(v) if not isinstance(v, Mapping) else dict(v) for k, v in row.items()
             if k in EVENT_FIELDS and not _absent(v)}
    features = {str(k): cell(v) for k, v in row.items() if k not in EVENT_FIELDS}
    if features and event.get("kind", "prediction") != "label":
        event["features"] = features
    return event


def _table_rows(batch: object) -> list[Mapping[str, object]] | None:
    """The raw rows of a DataFrame or Arrow table (None for anything else)."""
    to_pylist = getattr(batch, "to_pylist", None)
    if callable(to_pylist):
        rows: list[Mapping[str, object]] = to_pylist()
        return rows
    to_dict = getattr(batch, "to_dict", None)
    if callable(to_dict) and hasattr(batch, "columns"):
        records: list[Mapping[str, object]] = to_dict(orient="records")
        return records
    return None


def _encode(event: EventLike) -> bytes:
    if isinstance(event, bytes):
        return event
    if isinstance(event, str):
        return event.encode()
    if isinstance(event, BaseModel):
        return event.model_dump_json(exclude_none=True).encode()
    body = dict(event)
    body.setdefault("kind", "prediction")
    # default=str: a value JSON cannot hold is sent as text and refused by validation, with its reason
    return json.dumps(body, default=str).encode()


class Monitor:
    """Monitor events fed in a loop, with the worker's core and configuration.

    Parameters
    ----------
    settings
        The service configuration, or the path of its YAML file.
    references
        The static reference of each model id; ``None``: loaded as the worker
        and the backtest load them (profiles or data files named in the configuration).
    now
        Processing time for the event-time bound (``limits.max_event_skew_seconds``);
        default: the time the monitor was created.
    """

    def __init__(
        self,
        settings: ServiceSettings | str | Path,
        references: Mapping[str, ReferenceProfile | None] | None = None,
        *,
        now: float | None = None,
    ) -> None:
        from stream_monitor.config.references import load_references, load_version_references

        if not isinstance(settings, ServiceSettings):
            settings = ServiceSettings.from_yaml(settings)
        self.settings = settings
        versions = load_version_references(settings) if references is None else None
        refs = load_references(settings) if references is None else references
        lim = settings.limits
        self.core = CoreMonitor(settings.models, refs, max_message_bytes=lim.max_message_bytes,
                                version_references=versions, max_event_skew_seconds=lim.max_event_skew_seconds,
                                version_idle_seconds=lim.version_idle_seconds)
        self.now = time.time() if now is None else now
        self._offset = 0

    def _records(self, batch: TableLike | Iterable[EventLike]) -> list[SourceRecord]:
        rows = _table_rows(batch)
        events: Iterable[EventLike] = [_flat(r) for r in rows] if rows is not None else batch  # type: ignore[assignment]
        records = []
        for event in events:
            records.append(SourceRecord("prediction", _encode(event), "events", 0, self._offset))
            self._offset += 1
        return records

    def _update(self, outcome: Outcome) -> Update:
        self.core.mark_published(r.request_id for r in outcome.requests)
        return Update(
            windows=outcome.reports,
            label_windows=tuple(r for b in outcome.outcomes.values() for r in b.reports),
            requests=outcome.requests,
            rejected=tuple(Rejected(d.record.offset, d.reason, d.message) for d in outcome.dead_letters),
            partial=outcome.partial,
        )

    def update(self, batch: TableLike | Iterable[EventLike]) -> Update:
        """Add a batch of events (any size); returns the windows that closed and what was decided."""
        return self._update(self.core.observe(self._records(batch), now=self.now))

    def finish(self) -> Update:
        """Close every open window at the end of the input (``partial`` windows)."""
        return self._update(self.core.finish())

    def snapshot(self) -> bytes:
        """The whole state (as the worker persists it); :meth:`restore` loads it."""
        return self.core.snapshot()

    def restore(self, blob: bytes) -> None:
        self.core.restore(blob)
        self._offset = max(self.core.view(models=()).positions.values(), default=0)
