"""Sequential alarms are evidence: a decision needs a second, independent piece of it.

A per-event CUSUM bank keeps its false alarms within a budget per event
(:mod:`stream_monitor.detectors.cusum_thresholds`), so over a long stationary stream it
*will* alarm now and then: at 10 per million events, a model that sees 20
million events a week alarms a few times a week by chance. One alarm therefore
never makes a decision alone. A feature's alarm counts as drift once, within
``horizon`` events of it (before or after),

1. the same feature alarms again in a later window (its CUSUMs restart at a
   head start after an alarm, and an alarm closes its window, so a second
   alarm is new evidence: persistence; streams of one feature alarming in the
   same window count once), or
2. a window test on the same feature fires (the window the alarm closed, or a
   later one within the horizon), or
3. another input feature alarms (two features agree). The prediction and the
   multivariate readings are not independent of the inputs they summarise, so
   they never corroborate another alarm; an input's alarm corroborates them.

The false-request rate
    Write ``r`` for the alarm budget per event (``false_alarms_per_million``
    / 1e6, over all ``M`` streams of a model), ``D`` for the horizon and
    ``r_f`` for the share of ``r`` of one feature's streams. Under the
    reference, an alarm is corroborated by chance with probability at most

    * ``exp(-theta (h - h0))`` by its own stream's restart at ``h0`` (Wald;
      :mod:`stream_monitor.detectors.cusum_thresholds` sets ``h0`` so that this is at most
      ``D * r``),
    * ``2 D r_f`` by a fresh alarm of the same feature and ``2 D r`` by one
      of another input (the expected alarms in the ``2 D`` events around it;
      exact for independent streams, an approximation for dependent ones,
      e.g. the ``k = 0.1`` and ``k = 0.5`` streams of one signal or two
      correlated features, which is what the measurement checks),
    * ``q`` by a chance window test on the feature in the one to three
      windows the horizon spans (the window tests' budget per window, alpha,
      divided over the features' tests).

    Decisions from sequential evidence therefore come at most at
    ``r * (3 D r + 2 D r_f + q)`` per event. At the defaults (``r`` = 1e-5,
    ``D`` = 2,000, ``D r`` = 0.02) that is below 1e-6 per event plus the
    window tests' share: a bound, far above what is measured, because the
    alarm bound itself is loose (the CUSUMs alarm ~0.6 times per million
    events against the budget of 10; with each of those alarms corroborated
    by chance at the bounds above, ~0.3 false requests are expected per 20
    million events; ``python -m benchmarks.false_requests`` measures them, see
    docs/detectors.md). A decision from one stream alone
    needs its sum to travel ``h + (h - h0)``, and with a Wald bound the chance
    of that is ``exp(-theta (2 h - h0))`` whatever ``h`` and ``h0``: the delay
    of a decision is set by the rate at which chance decisions are accepted,
    not by how the evidence is split into alarms.

The state is a short list of marks (feature, kind, event position), bounded by
the horizon and by :data:`MAX_MARKS`.

Examples
--------
>>> marks = []
>>> sorted(corroborate(marks, alarms={"age": 1}, tests=set(), position=600, horizon=2000))
[]
>>> sorted(corroborate(marks, alarms={"age": 1}, tests=set(), position=900, horizon=2000))
['age']
>>> sorted(corroborate([], alarms={"age": 1}, tests={"age"}, position=600, horizon=2000))
['age']
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from stream_monitor.windows.profile import MULTIVARIATE, PREDICTION

__all__ = ["ALARM", "MAX_MARKS", "TEST", "Mark", "corroborate"]

ALARM = "alarm"
TEST = "test"
MAX_MARKS = 256  # marks kept at most (oldest dropped): features x kinds within one horizon
SUMMARIES = frozenset({PREDICTION, MULTIVARIATE})  # readings that summarise the inputs

Mark = tuple[str, str, int]  # (feature, ALARM or TEST, event position of the window's end)


def corroborate(
    marks: list[Mark],
    *,
    alarms: Mapping[str, int],
    tests: Set[str],
    position: int,
    horizon: int,
) -> set[str]:
    """Record this window's alarms (feature -> count) and fired tests, and return
    the features whose alarms within the horizon are corroborated now.

    ``marks`` (the persisted evidence) is updated in place: marks older than
    ``horizon`` events before ``position`` are dropped.
    """
    marks[:] = [m for m in marks if position - m[2] <= horizon]
    # One mark per feature and window: streams of a feature that alarm together (e.g. its k = 0.1 and
    # k = 0.5 CUSUMs on the same events) are one piece of evidence, not two.
    marks.extend((f, ALARM, position) for f, count in alarms.items() if count > 0)
    marks.extend((f, TEST, position) for f in sorted(tests))  # sorted: the snapshot is the same in every process
    del marks[:-MAX_MARKS]
    alarm_counts: dict[str, int] = {}
    tested: set[str] = set()
    for f, kind, _ in marks:
        if kind == ALARM:
            alarm_counts[f] = alarm_counts.get(f, 0) + 1
        else:
            tested.add(f)
    inputs = [f for f in alarm_counts if f not in SUMMARIES]
    out = set()
    for f, count in alarm_counts.items():
        others = [g for g in inputs if g != f]
        if count >= 2 or f in tested or others:
            out.add(f)
    return out
