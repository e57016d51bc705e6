"""Goal 6: the same events through peer libraries, in one process each.

Runs in the peer virtual environment (``benchmarks/.peer-venv``, created by
``benchmarks.run``), which has river, evidently 0.7.x (with pandas<3) and
nannyml; the main install stays light. Every method gets the same events of
:mod:`benchmarks.workload`, already decoded to dicts (their decoding is not
timed; stream-monitor's figure, measured by ``benchmarks.run`` in the main
environment, includes validating the raw bytes):

* river: ADWIN and PageHinkley per event on every numeric feature and the
  score (river's detectors take numbers; the 5 categorical features are not
  seen); KSWIN the same, on a tenth of the events (it costs ~150 us per update);
* Evidently: the DataDriftPreset report on windows of 1,000 events against
  the 20,000-row reference (a DataFrame built per window, as a batch job
  would); only the first few windows, as each takes seconds;
* NannyML: UnivariateDriftCalculator (KS and chi2, chunks of 1,000) fitted on
  the reference, then run over all events at once.

Evidently and NannyML run once untimed first (imports, first-call caches).

Prints one JSON object: method -> {"events", "seconds", "events_per_second"}.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from typing import Any

from benchmarks.workload import CATEGORICAL, NUMERIC, encoded_events, reference_rows

__all__ = ["main"]

WINDOW = 1000


def _events(n: int) -> list[dict[str, Any]]:
    rows = []
    for raw in encoded_events(n, seed=11):
        e = json.loads(raw)
        rows.append({**e["features"], "score": e["score"]})
    return rows


def _timed(fn: Callable[[], int]) -> dict[str, float]:
    t0 = time.perf_counter()
    n = fn()
    dt = time.perf_counter() - t0
    return {"events": n, "seconds": dt, "events_per_second": n / dt}


def _river(rows: list[dict[str, Any]], factory: Callable[[], Any]) -> int:
    columns = [*NUMERIC, "score"]
    detectors = {c: factory() for c in columns}
    fired = 0
    for row in rows:
        for c in columns:
            det = detectors[c]
            det.update(row[c])
            fired += det.drift_detected
    return len(rows)


def _evidently(rows: list[dict[str, Any]], reference: list[dict[str, Any]]) -> int:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=[*NUMERIC, "score"], categorical_columns=CATEGORICAL)
    ref = Dataset.from_pandas(pd.DataFrame(reference), data_definition=definition)
    for lo in range(0, len(rows), WINDOW):
        cur = Dataset.from_pandas(pd.DataFrame(rows[lo:lo + WINDOW]), data_definition=definition)
        Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    return len(rows)


def _nannyml(rows: list[dict[str, Any]], reference: list[dict[str, Any]]) -> int:
    import nannyml as nml
    import pandas as pd

    calc = nml.UnivariateDriftCalculator(
        column_names=[*NUMERIC, *CATEGORICAL, "score"],
        chunk_size=WINDOW,
        continuous_methods=["kolmogorov_smirnov"],
        categorical_methods=["chi2"],
    )
    calc.fit(pd.DataFrame(reference))
    calc.calculate(pd.DataFrame(rows))
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--evidently-windows", type=int, default=4, help="Evidently takes seconds per window")
    p.add_argument("--only", nargs="*", default=None)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    rows = _events(args.events)
    reference = list(reference_rows())
    out: dict[str, Any] = {}
    from river import drift

    few = rows[: args.evidently_windows * WINDOW]
    methods: dict[str, tuple[Callable[[], int], Callable[[], int] | None]] = {
        "river ADWIN": (lambda: _river(rows, drift.ADWIN), None),
        "river PageHinkley": (lambda: _river(rows, drift.PageHinkley), None),
        "river KSWIN": (lambda: _river(rows[: max(len(rows) // 10, 1)], lambda: drift.KSWIN(seed=0)), None),
        "Evidently DataDriftPreset": (lambda: _evidently(few, reference),
                                      lambda: _evidently(rows[:WINDOW], reference)),
        "NannyML univariate drift": (lambda: _nannyml(rows, reference),
                                     lambda: _nannyml(rows[: 2 * WINDOW], reference)),
    }
    for name, (fn, warm_up) in methods.items():
        if args.only and not any(o.lower() in name.lower() for o in args.only):
            continue
        try:
            if warm_up is not None:  # imports and first-call caches stay out of the timing
                warm_up()
            out[name] = _timed(fn)
        except Exception as exc:  # noqa: BLE001 - reported in the table, not hidden
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
