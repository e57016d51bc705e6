"""Per-segment windows: one :class:`~stream_monitor.windows.window.Window` per
(attribute, group) of one model version, fed the events of that group.

``ModelSpec.segments`` declares, per attribute of ``PredictionEvent.attributes``,
the group values reported; any other value (or none) counts as ``other``, so the
number of windows, and of metric series, is bounded by configuration. Segment
windows share the version window's layout (bins from the model's reference)
without the multivariate embedding, and open and close with the version window.
Their readings name the feature ``<feature>@<attribute>=<group>``
(:func:`segment_name`), e.g. ``amount@region=south``; feature names cannot
contain ``@``, so :func:`base_feature` recovers the feature.

Feature events carry no attributes: they reach a segment window only through
the feature join (``ModelSpec.feature_join``), which gives them the groups of
their prediction; without it they update the version window alone.

Examples
--------
>>> segment_name("amount", "region", "south")
'amount@region=south'
>>> base_feature("amount@region=south"), is_segment("amount")
('amount', False)
>>> segment_groups({"region": "mars"}, {"region": ["north", "south"]})
('other',)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stream_monitor.events.models import FeatureEvent, PredictionEvent
from stream_monitor.specs.labels import OTHER_GROUP
from stream_monitor.windows.groups import group_of
from stream_monitor.windows.persist import assign, capture
from stream_monitor.windows.state import SegmentsState
from stream_monitor.windows.window import Window, WindowLayout

__all__ = [
    "SEGMENT_SEPARATOR",
    "SegmentWindows",
    "base_feature",
    "is_segment",
    "segment_groups",
    "segment_name",
]

SEGMENT_SEPARATOR = "@"
Groups = tuple[str, ...]  # one group per configured attribute, in config order


def segment_name(feature: str, attribute: str, group: str) -> str:
    """The ``feature`` label of a segment reading."""
    return f"{feature}{SEGMENT_SEPARATOR}{attribute}={group}"


def base_feature(name: str) -> str:
    """The feature of a (segment) reading's feature name."""
    return name.split(SEGMENT_SEPARATOR, 1)[0]


def is_segment(name: str) -> bool:
    return SEGMENT_SEPARATOR in name


def segment_groups(attributes: Mapping[str, Any] | None, segments: Mapping[str, Sequence[str]]) -> Groups:
    """The reported group of each configured attribute (declared value or ``other``)."""
    attrs = attributes or {}
    return tuple(group_of(attrs.get(a), gs) for a, gs in segments.items())


@dataclass(slots=True)
class SegmentWindows:
    """The open segment windows of one model version.

    Parameters
    ----------
    segments
        ``ModelSpec.segments``: attribute -> declared groups.
    layout
        The version window's layout; the embedding is dropped (no MMD per segment).
    """

    segments: dict[str, list[str]]
    layout: WindowLayout
    windows: dict[tuple[str, str], Window]

    @classmethod
    def empty(cls, segments: Mapping[str, Sequence[str]], layout: WindowLayout, index: int) -> SegmentWindows:
        lay = dataclasses.replace(layout, embedding=None)
        segs = {a: list(gs) for a, gs in segments.items()}
        keys = [(a, g) for a, gs in segs.items() for g in (*gs, OTHER_GROUP)]
        return cls(segs, lay, {k: Window.empty(index, lay) for k in keys})

    @staticmethod
    def params_hash(segments: Mapping[str, Sequence[str]]) -> str:
        blob = json.dumps({a: list(gs) for a, gs in segments.items()}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def add(self, events: Sequence[PredictionEvent | FeatureEvent], groups: Sequence[Groups | None]) -> None:
        """Add events of the open window; ``groups[i]`` is event i's groups (``None``: no segment)."""
        for a_idx, attr in enumerate(self.segments):
            buckets: dict[str, list[PredictionEvent | FeatureEvent]] = {}
            for e, g in zip(events, groups, strict=True):
                if g is not None:
                    buckets.setdefault(g[a_idx], []).append(e)
            for group, evs in buckets.items():
                self.windows[(attr, group)].add(evs, self.layout)

    def sufficient(self, min_samples: int) -> list[tuple[str, str, Window]]:
        """The windows with at least ``min_samples`` predictions (the others never fire)."""
        return [(a, g, w) for (a, g), w in self.windows.items() if w.n >= min_samples]

    def insufficient(self, min_samples: int) -> list[str]:
        """``attribute=group`` of the windows below ``min_samples`` that saw events."""
        return [f"{a}={g}" for (a, g), w in self.windows.items() if 0 < w.n < min_samples]

    def reset(self, index: int) -> None:
        self.windows = {k: Window.empty(index, self.layout) for k in self.windows}

    def to_state(self) -> SegmentsState:
        return capture(SegmentsState, self, params=self.params_hash(self.segments))

    def load_state(self, data: SegmentsState | None) -> bool:
        """Restore :meth:`to_state` into the configured groups, each window shaped by the
        layout; ``False`` (fresh windows kept) when absent or configured differently."""
        if data is None or data.params != self.params_hash(self.segments):
            return False
        assign(self, data, skip=("params",))
        for w in self.windows.values():
            w.fit(self.layout)
        return True
