"""The persisted state of the decision policy of one model version.

k of n persistence with hysteresis (:meth:`PolicyState.record`), the same
rule per subject (:meth:`PolicyState.persist`: which readings breached in k of
the last n windows), the sequential evidence within the corroboration horizon
(``marks``), and the incident with its cooldown (:meth:`PolicyState.request`). The drift and the
label path keep one each and move it with the same rules
(:mod:`stream_monitor.decisions.policy`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

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
    features drifting now and the last request; ``windows`` counts sufficient
    windows and ``subjects`` holds, per reading subject that breached in one of
    the last n of them, the ordinals of those windows.
    """

    streak: int = 0
    cooldown_until: float | None = None
    state: DetectorState = DetectorState.OK
    history: list[bool] = dataclasses.field(default_factory=list)  # recent windows, oldest first
    position: int = 0
    marks: list[Mark] = dataclasses.field(default_factory=list)
    incident: Incident = dataclasses.field(default_factory=Incident)
    windows: int = 0
    subjects: dict[str, list[int]] = dataclasses.field(default_factory=dict)

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

    def persist(self, breached: Iterable[str], k: int, n: int) -> frozenset[str]:
        """Add one sufficient window's breaching subjects; return the *persistent* ones,
        those that breached in at least ``k`` of the last ``n`` sufficient windows (the
        model-level k of n, per subject). Memory: only subjects of the last n windows."""
        self.windows += 1
        for subject in dict.fromkeys(breached):
            self.subjects.setdefault(subject, []).append(self.windows)
        for subject in list(self.subjects):
            recent = [w for w in self.subjects[subject] if w > self.windows - n]
            if recent:
                self.subjects[subject] = recent
            else:
                del self.subjects[subject]
        return frozenset(s for s, ws in self.subjects.items() if len(ws) >= k)

    def request(
        self,
        *,
        enabled: bool,
        drifted: bool,
        severity: Severity,
        end: float,
        cooldown_seconds: float,
        make: Callable[[str | None, tuple[str, ...], tuple[Reason, ...], Severity], RetrainRequest],
    ) -> RetrainRequest | None:
        """The request this window makes, if any (the incident's rules); ``make`` builds
        it from the id it supersedes, the features, the reasons and ``severity``."""
        if not (enabled and drifted and self.state is DetectorState.DRIFT):
            return None
        in_cooldown = self.cooldown_until is not None and end < self.cooldown_until
        if not self.incident.wanted(severity, in_cooldown=in_cooldown):
            return None
        request = make(self.incident.supersedes, self.incident.features, self.incident.reasons(), severity)
        self.incident.made(request.request_id, severity)
        self.cooldown_until = end + cooldown_seconds
        return request
