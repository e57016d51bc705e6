"""The drift path's view of a version's inputs, as the label path sees it event by event.

The label path asks whether a version's inputs are in drift (its reference period keeps only
predictions made while they are not, and a performance drop is told apart from a concept
change by it). The drift path takes a whole batch before the label path does, so reading its
state afterwards would give every event of the batch the state at the batch's end, and a batch
cut elsewhere would let other predictions into the reference period. A :class:`DriftTimeline`
starts from the state before the batch and applies each change the drift path made (its
window closes, ``ModelOutcome.marks``) at the event that made it: the label path sees what it
would see if every event came alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

__all__ = ["DriftTimeline"]


class DriftTimeline:
    """Whether each version's inputs are in warning or drift, as of the current event.

    ``live`` is the drift path's current answer and ``versions`` the versions it knows, both
    read when the timeline is made (before the drift path takes the batch); a version it
    meets later starts clear. Set :attr:`marks` once the drift path has run, then
    :meth:`advance` before each label-path event.
    """

    def __init__(self, live: Callable[[str], bool], versions: Iterable[str]) -> None:
        self._state = {v: live(v) for v in versions}
        self.marks: tuple[tuple[int, str, bool], ...] = ()
        self._next = 0

    def advance(self, seen: int) -> None:
        """Apply the changes made by the drift path's first ``seen`` events of the batch."""
        marks = self.marks
        while self._next < len(marks) and marks[self._next][0] < seen:
            _, version, drifting = marks[self._next]
            self._state[version] = drifting
            self._next += 1

    def __call__(self, version: str) -> bool:
        return self._state.get(version, False)
