"""Every option of every command says what it is for in ``--help``."""

from __future__ import annotations

import argparse

from stream_monitor.cli import build_parser


def _parsers(p: argparse.ArgumentParser, name: str = "stream-monitor") -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(name, p)]
    for action in p._actions:  # noqa: SLF001 - argparse has no public walk
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub_name, sub in action.choices.items():
                out += _parsers(sub, f"{name} {sub_name}")
    return out


def test_every_cli_option_has_help_text() -> None:
    missing = [f"{name}: {'/'.join(a.option_strings) or a.dest}"
               for name, parser in _parsers(build_parser())
               for a in parser._actions  # noqa: SLF001
               if not isinstance(a, argparse._SubParsersAction) and not (a.help or "").strip()]  # noqa: SLF001
    assert not missing, "options without help text:\n" + "\n".join(missing)
