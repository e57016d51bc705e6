"""The Python API: compare DataFrames, or feed events in a loop, with the stream's own core.

* :func:`compare` - a current batch against a reference (pandas, Arrow or dicts),
  returning a typed :class:`Comparison` with an HTML report;
* :class:`Monitor` - ``update(batch)`` / ``finish()`` in a loop, with the
  decisions and request ids the worker and ``stream-monitor backtest`` make.

pandas and pyarrow are optional (``pip install 'stream-monitor[pandas]'``).
"""

from stream_monitor.api.compare import compare
from stream_monitor.api.loop import Monitor, Update
from stream_monitor.api.result import Comparison, Distribution, Rejected
from stream_monitor.api.tables import infer_features, to_rows

__all__ = ["Comparison", "Distribution", "Monitor", "Rejected", "Update", "compare", "infer_features", "to_rows"]
