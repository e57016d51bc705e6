"""The allow-list of each model's versions: which versions of an event its model monitors.

``model_version`` comes from events. A model that lists its
versions in config accepts those alone (others are dead-lettered as
``unknown_version``). Otherwise the monitor learns an allow-list of at most
``max_versions`` versions that match :data:`VERSION_PATTERN`; a learned
version idle (in event time) for ``version_idle_seconds`` gives its place to a
new one. Any other version is counted under :data:`OTHER_VERSION` (and in
``Outcome.overflow``) and is not monitored: windows of unrelated versions
mixed together would mean nothing. The same allow-list labels label events.
"""

from __future__ import annotations

import re
from collections.abc import Container, Sequence
from typing import Final, cast

from stream_monitor.events.models import FeatureEvent, LabelEvent, PredictionEvent
from stream_monitor.pipeline.label_monitor import OutcomeMonitor
from stream_monitor.pipeline.outcome import Intake
from stream_monitor.validation.column_events import EventBatch

__all__ = ["OTHER_VERSION", "UNKNOWN_VERSION", "VERSION_PATTERN", "VersionAllowList"]

# What a version from an event must look like to become a label value (and status
# page text): short, and letters, digits and ``._+-`` only (no ``@``, no spaces).
VERSION_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}"
_VERSION: Final = re.compile(VERSION_PATTERN)
OTHER_VERSION: Final = "other"
UNKNOWN_VERSION: Final = "unknown"  # label events without a version


class VersionAllowList:
    """The version half of :class:`~stream_monitor.pipeline.intake.RecordIntake`: counts each
    accepted event under its version and hands it to its model. The monitor sets the state
    declared here."""

    outcomes: dict[str, OutcomeMonitor]
    version_idle_seconds: float
    learned: dict[str, dict[str, float]]  # per model: learned version -> its newest event time
    _versions: dict[str, frozenset[str] | None]
    _caps: dict[str, int]

    def _take_label(self, item: LabelEvent, b: Intake) -> None:
        model_id = item.model_id
        label_version = item.model_version
        if label_version is None:
            label_version = UNKNOWN_VERSION
        else:  # labels do not teach versions
            known: Container[str] | None = self.learned.get(model_id) or self._versions[model_id]
            if known is None or label_version not in known:
                label_version = OTHER_VERSION
        b.consumed[(model_id, label_version, "label")] += 1
        if item.timestamp > b.label_times.get(model_id, -1.0):
            b.label_times[model_id] = item.timestamp
        if model_id in self.outcomes:
            b.label_path.setdefault(model_id, []).append(item)
            b.label_at.setdefault(model_id, []).append(len(b.per_model.get(model_id, ())))

    def _take_event(self, item: PredictionEvent | FeatureEvent, b: Intake) -> bool:
        """Count ``item`` and hand it to its model; ``False`` when its version is not configured."""
        model_id, version = item.model_id, item.model_version
        allowed = self._versions[model_id]
        if allowed is not None:
            if version not in allowed:
                return False
        else:  # the learned allow-list, kept per event so that batching never changes it
            mine = self.learned[model_id]
            last = mine.get(version)
            if last is None:
                if not self._admit(model_id, version, item.timestamp, b.retired):
                    b.consumed[(model_id, OTHER_VERSION, item.kind)] += 1
                    b.overflow[(model_id, item.kind)] += 1
                    return True
            elif item.timestamp > last:
                mine[version] = item.timestamp
        b.consumed[(model_id, version, item.kind)] += 1
        events = b.per_model.get(model_id)
        if events is None:
            events = b.per_model[model_id] = []
        events.append(item)
        if model_id in self.outcomes and isinstance(item, PredictionEvent):
            b.label_path.setdefault(model_id, []).append(item)
            b.label_at.setdefault(model_id, []).append(len(events))
        return True

    def _take_events(self, items: Sequence[PredictionEvent | FeatureEvent], b: Intake, newest: float) -> bool:
        """Count and hand on many events of one kind, model and version at once (``newest``: the
        newest event time among them), when the version is known already; ``False`` (nothing
        taken) when it must be learned or is refused: then each event goes through
        :meth:`_take_event`, with the same result."""
        first = items[0]
        model_id, version = first.model_id, first.model_version
        allowed = self._versions[model_id]
        if allowed is not None:
            if version not in allowed:
                return False
        else:
            mine = self.learned[model_id]
            last = mine.get(version)
            if last is None:
                return False
            if newest > last:
                mine[version] = newest
        b.consumed[(model_id, version, first.kind)] += len(items)
        events = b.per_model.setdefault(model_id, [])
        if model_id in self.outcomes and isinstance(first, PredictionEvent):
            b.label_path.setdefault(model_id, []).extend(cast("Sequence[PredictionEvent]", items))
            b.label_at.setdefault(model_id, []).extend(range(len(events) + 1, len(events) + len(items) + 1))
        if isinstance(items, EventBatch) and items.features is not None:
            b.columns.setdefault(model_id, []).append((len(events), len(items), items.features))
        events.extend(items)
        return True

    def _admit(self, model_id: str, version: str, ts: float, retired: list[tuple[str, str]]) -> bool:
        """Learn ``version`` for ``model_id`` if it is well formed and there is room:
        a free place, or the place of a learned version idle for ``version_idle_seconds``."""
        if _VERSION.fullmatch(version) is None or version == OTHER_VERSION:
            return False
        mine = self.learned[model_id]
        if len(mine) >= self._caps[model_id]:
            idlest = min(mine, key=mine.__getitem__)
            if mine[idlest] > max(*mine.values(), ts) - self.version_idle_seconds:
                return False
            del mine[idlest]
            retired.append((model_id, idlest))
        mine[version] = ts
        return True
