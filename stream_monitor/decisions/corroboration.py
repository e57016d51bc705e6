"""Sequential alarms are evidence: a decision needs a second, independent piece of it.

A per-event CUSUM bank keeps its false alarms within a budget per event
(:mod:`stream_monitor.detectors.cusum`), so over a long stationary stream it
*will* alarm now and then: at 10 per million events, a model that sees 20
million events a week alarms a few times a week by chance. One alarm therefore
never makes a decision alone. A feature's alarm counts as drift once, within
``horizon`` events of it (before or after),

1. the same feature alarms again in a later window (its CUSUMs restart at 0
   after an alarm, and an alarm closes its window, so a second alarm is new
   evidence: persistence; streams of one feature alarming in the same window
   count once), or
2. a window test on the same feature fires (the window the alarm closed, or a
   later one within the horizon), or
3. another input feature alarms (two features agree). The prediction and the
   multivariate readings are not independent of the inputs they summarise, so
   they never corroborate another alarm; an input's alarm corroborates them.

Under stationarity, rule 1 needs a second alarm of the same feature within the
horizon (about ``horizon x rate / features`` per alarm), rule 3 an alarm of
another feature (``horizon x rate``), rule 2 a chance window test on that
feature in the one or two windows the horizon spans (the window test's own
per-window false-alarm rate, divided over the features). At the defaults
(rate <= 10 per million events, horizon 2,000 events) the first two are below
2% per alarm; the measured false-request rate is in the README
(``python -m benchmarks.false_requests``).

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
