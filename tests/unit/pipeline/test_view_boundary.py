"""Nothing outside ``stream_monitor.pipeline`` reads the live monitor objects: edges read ``Monitor.view()``.

Checked on types by mypy with the plugin in ``view_boundary_plugin.py``: outside
the pipeline package, reading or writing a field of a mutable pipeline object
(``Monitor.positions``, ``ModelMonitor.versions``, ``VersionState.window``, ...)
is an error, while methods (``observe``, ``view``) and frozen values (``Outcome``,
the ``MonitorView`` family) are allowed. The same check run over the edges as
they were before the view existed reports 50 reads in 7 modules (the Prometheus
collectors, the status view, the runtime, the worker and the Python API loop).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

mypy_api = pytest.importorskip("mypy.api", reason="mypy is in the lint extra: pip install -e '.[lint]'")

PLUGIN = Path(__file__).with_name("view_boundary_plugin.py")

PROBE = '''\
from stream_monitor.pipeline.monitor import Monitor


def reads_internals(mon: Monitor) -> int:
    return len(mon.positions)  # line 5: a live field


def reads_view(mon: Monitor) -> int:
    return len(mon.view(models=()).positions)  # a frozen view: allowed


def reads_model(mon: Monitor) -> int:
    return sum(len(mm.versions) for mm in mon.models.values())  # line 13: two live fields
'''


def _boundary_errors(tmp_path: Path) -> list[str]:
    config = tmp_path / "mypy.ini"
    config.write_text(f"[mypy]\nstrict = True\nignore_missing_imports = True\nplugins = {PLUGIN}\n")
    probe = tmp_path / "view_probe.py"
    probe.write_text(PROBE)
    cache = ROOT / ".mypy_cache" / "view-boundary"  # its own cache: the plugin changes mypy's options
    out, err, _ = mypy_api.run(["--config-file", str(config), "--cache-dir", str(cache), "--no-error-summary",
                                str(ROOT / "stream_monitor"), str(probe)])
    assert not err, err
    return [line for line in out.splitlines() if "view boundary" in line]


def test_only_the_pipeline_reads_live_monitor_objects(tmp_path: Path) -> None:
    errors = _boundary_errors(tmp_path)
    in_package = [e for e in errors if "view_probe.py" not in e]
    assert in_package == [], "\n".join(in_package)
    # The rule can fail: the probe's reads of live fields are caught, its read of the view is not.
    probe = sorted((int(m.group(1)), m.group(2)) for e in errors
                   if (m := re.search(r"view_probe\.py:(\d+): error: view boundary: (\w+\.\w+)", e)))
    assert probe == [(5, "Monitor.positions"), (13, "ModelMonitor.versions"), (13, "Monitor.models")]
