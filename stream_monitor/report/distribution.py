"""One feature's counts on the reference's bins, reference against current.

The value the report draws (:mod:`stream_monitor.report.comparison`, the status
view) and the Python API returns (:class:`~stream_monitor.api.result.Comparison`);
it lives here, below both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Distribution"]


@dataclass(frozen=True, slots=True)
class Distribution:
    """One feature's counts on the reference's bins: reference and current.

    Numeric: ``edges`` are the inner bin edges (``len(edges) + 1`` bins).
    Categorical: ``categories`` and a last bin for every other category.
    """

    feature: str
    kind: Literal["numeric", "categorical"]
    edges: tuple[float, ...]
    categories: tuple[str, ...]
    reference: tuple[int, ...]
    current: tuple[int, ...]
    reference_missing: int
    current_missing: int

    def labels(self) -> tuple[str, ...]:
        """A short label per bin."""
        if self.kind == "categorical":
            return (*self.categories, "other")
        e = self.edges
        if not e:
            return ("all",)
        inner = tuple(f"{a:.3g}..{b:.3g}" for a, b in zip(e, e[1:], strict=False))
        return (f"<{e[0]:.3g}", *inner, f">={e[-1]:.3g}")

    def to_dict(self) -> dict[str, object]:
        return {"feature": self.feature, "kind": self.kind, "bins": list(self.labels()),
                "reference": list(self.reference), "current": list(self.current),
                "reference_missing": self.reference_missing, "current_missing": self.current_missing}
