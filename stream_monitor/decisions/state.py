"""The persisted state of the decision policy of one model version.

k of n persistence with hysteresis (:meth:`PolicyState.record`), the
sequential evidence within the corroboration horizon (``marks``), and the
incident with its cooldown (:meth:`PolicyState.request`). The drift and the
label path keep one each and move it with the same rules
(:mod:`stream_monitor.decisions.policy`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stream_monitor.decisions.corroboration import Mark
from stream_monitor.decisions.incident import Incident
from stream_monitor.decisions.request import Reason, RetrainRequest, Severity
from stream_monitor.detectors.base import DetectorState

__all__ = ["PolicyState"]


@dataclass(slots=True)
class PolicyState:
    """The persisted part of the policy of one model version.

    ``position`` counts the events of every window decided; ``marks`` hold the
    sequential evidence within the corroboration horizon; ``incident`` the
    features drifting now and the last request.
    """

    streak: int = 0
    cooldown_until: float | None = None
    state: DetectorState = DetectorState.OK
    history: list[bool] = dataclasses.field(default_factory=list)  # recent windows, oldest first
    position: int = 0
    marks: list[Mark] = dataclasses.field(default_factory=list)
    incident: Incident = dataclasses.field(default_factory=Incident)

    def to_state(self) -> dict[str, Any]:
        return {
            "streak": self.streak,
            "cooldown_until": self.cooldown_until,
            "state": self.state.value,
            "history": list(self.history),
            "position": self.position,
            "marks": [list(m) for m in self.marks],
            "incident": self.incident.to_state(),
        }

    @classmethod
    def from_state(cls, data: Mapping[str, Any]) -> PolicyState:
        # Snapshots from before k-of-n have no history: the streak is its tail.
        history = data.get("history")
        if history is None:
            history = [True] * int(data["streak"])
        marks: list[Mark] = [(str(f), str(k), int(p)) for f, k, p in data.get("marks") or []]
        return cls(int(data["streak"]), data["cooldown_until"], DetectorState(data["state"]),
                   [bool(x) for x in history], int(data.get("position") or 0), marks,
                   Incident.from_state(data.get("incident")))

    def record(
        self, drifted: bool, k: int, n: int, exit_below: int, *, immediate: bool = False, evidence: bool = False
    ) -> None:
        """Add one sufficient window's outcome and move the state (k of n, hysteresis);
        ``immediate`` (a corroborated sequential alarm) enters drift without waiting for k;
        ``evidence`` (an alarm not yet corroborated) makes a quiet window a warning."""
        self.streak = self.streak + 1 if drifted else 0
        self.history = [*self.history, drifted][-n:]
        count = sum(self.history)
        if self.state is DetectorState.DRIFT and count >= exit_below:
            return
        if count >= k or (immediate and drifted):
            self.state = DetectorState.DRIFT
        else:
            self.state = DetectorState.WARNING if (drifted or evidence) else DetectorState.OK
        if self.state is not DetectorState.DRIFT:
            self.incident.close()

    def request(
        self,
        *,
        enabled: bool,
        drifted: bool,
        severity: Severity,
        end: float,
        cooldown_seconds: float,
        make: Callable[[str | None, tuple[str, ...], tuple[Reason, ...]], RetrainRequest],
    ) -> RetrainRequest | None:
        """The request this window makes, if any (the incident's rules); ``make`` builds
        it from the id it supersedes, the features and the reasons."""
        if not (enabled and drifted and self.state is DetectorState.DRIFT):
            return None
        in_cooldown = self.cooldown_until is not None and end < self.cooldown_until
        if not self.incident.wanted(severity, in_cooldown=in_cooldown):
            return None
        request = make(self.incident.supersedes, self.incident.features, self.incident.reasons())
        self.incident.made(request.request_id, severity)
        self.cooldown_until = end + cooldown_seconds
        return request
