"""Per-group counts of one sensitive attribute in one window: mergeable, O(groups).

Groups are the values declared in config plus ``other`` (undeclared and missing
values), so the state and every metric label stay bounded. For each group:
events and positive predictions (representation, demographic parity), and on
joined pairs the confusion counts (equal opportunity, equalized odds).

Examples
--------
>>> g = GroupCounts.empty(["north", "south"])
>>> g.add("south", positive=True)
>>> g.add("mars", positive=False)
>>> g.n, g.positive
([0, 1, 1], [0, 1, 0])
>>> g.index("mars")
2
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stream_monitor.specs.labels import OTHER_GROUP

__all__ = ["GroupCounts", "group_of"]


def group_of(value: Any, declared: Sequence[str]) -> str:
    """The reported group of an attribute value: itself if declared, else ``other``."""
    if value is None:
        return OTHER_GROUP
    key = ("true" if value else "false") if isinstance(value, bool) else (
        str(int(value)) if isinstance(value, float) and value.is_integer() else str(value))
    return key if key in declared else OTHER_GROUP


@dataclass(slots=True)
class GroupCounts:
    """Counts per group (declared groups, then ``other``)."""

    groups: list[str]
    n: list[int] = field(default_factory=list)
    positive: list[int] = field(default_factory=list)  # predicted positive
    tp: list[int] = field(default_factory=list)
    fp: list[int] = field(default_factory=list)
    fn: list[int] = field(default_factory=list)
    tn: list[int] = field(default_factory=list)

    @classmethod
    def empty(cls, declared: Sequence[str]) -> GroupCounts:
        k = len(declared) + 1
        return cls([*declared, OTHER_GROUP], [0] * k, [0] * k, [0] * k, [0] * k, [0] * k, [0] * k)

    def index(self, group: str) -> int:
        try:
            return self.groups.index(group)
        except ValueError:
            return len(self.groups) - 1

    def add(self, group: str, *, positive: bool) -> None:
        """One prediction of ``group``."""
        i = self.index(group)
        self.n[i] += 1
        self.positive[i] += positive

    def add_pair(self, group: str, *, predicted: bool, actual: bool) -> None:
        """One joined pair of ``group`` (binary outcome)."""
        i = self.index(group)
        if actual:
            (self.tp if predicted else self.fn)[i] += 1
        else:
            (self.fp if predicted else self.tn)[i] += 1

    @property
    def total(self) -> int:
        return sum(self.n)

    def merge(self, other: GroupCounts) -> GroupCounts:
        assert self.groups == other.groups
        def add(a: list[int], b: list[int]) -> list[int]:
            return [x + y for x, y in zip(a, b, strict=True)]

        return GroupCounts(list(self.groups), add(self.n, other.n), add(self.positive, other.positive),
                           add(self.tp, other.tp), add(self.fp, other.fp), add(self.fn, other.fn),
                           add(self.tn, other.tn))
