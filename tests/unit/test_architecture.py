"""The boundary rule, the public API and the test layout, checked from source."""

from __future__ import annotations

import ast
import importlib
import pkgutil

import pytest

import stream_monitor
from tests.conftest import ROOT

CORE = ["events", "specs", "validation", "windows", "detectors", "decisions", "pipeline"]
CORE_MODULES = ["settings.py", "config/groups.py", "config/sources.py", "errors.py",
                "tools/simulate.py", "tools/backtest.py", "tools/simulate_labels.py"]
FORBIDDEN = ("faust", "aiokafka", "kafka", "prometheus_client", "stream_monitor.sinks", "stream_monitor.app", "mode")


def _core_files() -> list:  # type: ignore[type-arg]
    pkg = ROOT / "stream_monitor"
    files = [f for d in CORE for f in (pkg / d).rglob("*.py")]
    return files + [pkg / m for m in CORE_MODULES]


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: p.name)
def test_core_never_imports_io_frameworks(path) -> None:  # type: ignore[no-untyped-def]
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            assert not any(name == f or name.startswith(f + ".") for f in FORBIDDEN), f"{path.name} imports {name}"


def test_no_pickle_or_unsafe_yaml_anywhere() -> None:
    for path in (ROOT / "stream_monitor").rglob("*.py"):
        text = path.read_text()
        assert "import pickle" not in text and "pickle.loads" not in text, path
        assert "yaml.load(" not in text and "yaml.unsafe_load" not in text, path


def _modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(stream_monitor.__path__, "stream_monitor.")
            if not m.name.endswith("__main__")]


@pytest.mark.parametrize("name", _modules())
def test_every_module_declares_its_public_api(name: str) -> None:
    mod = importlib.import_module(name)
    exported = getattr(mod, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    for attr in exported:
        assert hasattr(mod, attr), f"{name}.__all__ names missing {attr}"
    assert mod.__doc__, f"{name} has no docstring"


UNIT = ROOT / "tests" / "unit"


def _misplaced(test_files: list) -> list[str]:  # type: ignore[type-arg]
    """Unit test files whose folder under tests/unit/ is not a package of stream_monitor/
    (tests/unit/ itself mirrors the package root: cli, settings, errors, the whole package)."""
    return [f.relative_to(UNIT).as_posix() for f in test_files
            if not (ROOT / "stream_monitor" / f.parent.relative_to(UNIT) / "__init__.py").is_file()]


def test_unit_tests_mirror_the_package_folders() -> None:
    files = sorted(UNIT.rglob("test_*.py"))
    assert len({f.parent for f in files}) > 1
    assert _misplaced(files) == [], "move them to tests/unit/<package>/ of the package they test"


def test_a_unit_test_outside_the_mirror_is_reported() -> None:
    files = [UNIT / "test_settings.py", UNIT / "windows" / "test_windows.py", UNIT / "window" / "test_x.py",
             UNIT / "windows" / "deep" / "test_y.py"]
    assert _misplaced(files) == ["window/test_x.py", "windows/deep/test_y.py"]


def test_every_test_folder_is_a_package() -> None:
    """Tests import each other as ``tests.unit.<package>.test_...``; without __init__.py two
    files of one name in different folders would collide."""
    folders = {f.parent for f in (ROOT / "tests").rglob("*.py")}
    assert [d for d in folders if not (d / "__init__.py").is_file()] == []
