"""Incidents and the retrain requests they make: new breaches, updates, cooldown.

An *incident* lasts from the window that puts a model version in the drift
state to the window that takes it out (hysteresis, :class:`PolicyState`). While
it lasts, the policy keeps the features drifting now (those that drifted in
one of the last ``memory`` sufficient windows) with the latest evidence of
each test on them, so a request names every feature of the incident, not just
the ones of the window that completed it.

A request is made when the model is in drift and its window drifted, and then

* the first one of an incident is a new breach (``supersedes = None``);
* during the cooldown, a window whose drifting features include one the last
  request did not name, or whose severity is higher, makes an *update*: a new
  request that supersedes the last one. The same evidence again is a repeat,
  and the cooldown suppresses it (only repeats);
* after the cooldown, a window still in the incident makes a request that
  supersedes the last one (a reminder with the evidence of now).

Everything here is a pure function of its inputs; the state lives in
:class:`stream_monitor.decisions.policy.PolicyState`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from stream_monitor.decisions.request import Reason, Severity

__all__ = ["Incident", "LastRequest", "SEVERITY_RANK"]

SEVERITY_RANK = {"warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class LastRequest:
    """What the last published request of a model version said."""

    request_id: str
    features: tuple[str, ...]
    severity: Severity



@dataclass(slots=True)
class Incident:
    """The features drifting now, their latest evidence, and the last request made.

    ``windows`` counts sufficient windows; ``seen[f]`` is the count when ``f``
    last drifted; ``evidence[f][detector]`` its latest reason.
    """

    windows: int = 0
    seen: dict[str, int] = field(default_factory=dict)
    evidence: dict[str, dict[str, Reason]] = field(default_factory=dict)
    open: bool = False  # a request was made since the model entered drift
    last: LastRequest | None = None

    def observe(self, drifting: Iterable[tuple[str, str, Reason]], memory: int) -> None:
        """Add one sufficient window's drifting readings (feature, detector, reason)."""
        self.windows += 1
        for feature, detector, reason in drifting:
            self.seen[feature] = self.windows
            self.evidence.setdefault(feature, {})[detector] = reason
        for f in [f for f, w in self.seen.items() if self.windows - w >= memory]:
            del self.seen[f]
            self.evidence.pop(f, None)

    def close(self) -> None:
        """The model left the drift state: the next request is a new breach."""
        self.open = False
        self.seen, self.evidence = {}, {}

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.seen)

    def reasons(self) -> tuple[Reason, ...]:
        return tuple(r for f in self.features for r in self.evidence.get(f, {}).values())

    def wanted(self, severity: Severity, *, in_cooldown: bool) -> bool:
        """Whether a request now is new evidence (or the cooldown is over), not a repeat."""
        if not in_cooldown:
            return True
        if self.last is None:  # cooldown from a state that kept no request: suppress, as a repeat
            return False
        new_feature = any(f not in self.last.features for f in self.features)
        return new_feature or SEVERITY_RANK[severity] > SEVERITY_RANK[self.last.severity]

    @property
    def supersedes(self) -> str | None:
        """The id a request made now supersedes (``None``: it is a new breach)."""
        return self.last.request_id if (self.open and self.last is not None) else None

    def made(self, request_id: str, severity: Severity) -> None:
        """Record a published request."""
        self.last = LastRequest(request_id, self.features, severity)
        self.open = True
