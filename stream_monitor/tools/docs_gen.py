"""Generate the reference pages of ``docs/`` from the code, or check that they are current.

    python -m stream_monitor.tools.docs_gen metrics          # write docs/metrics.md
    python -m stream_monitor.tools.docs_gen config           # write docs/configuration.md
    python -m stream_monitor.tools.docs_gen env              # the table in docs/configuration-env.md
    python -m stream_monitor.tools.docs_gen all --check      # exit 1 if a page is stale

The metrics page comes from the Prometheus registry the exporter fills
(:mod:`stream_monitor.tools.docs_metrics`), the configuration page from the settings models
(:mod:`stream_monitor.tools.docs_config`), the environment variables' table from the
same models (:mod:`stream_monitor.tools.docs_env`; the page around it is prose). CI runs the check through
``tests/ops/test_generated_docs.py``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["PAGES", "main", "render", "stale"]


def _metrics(_current: str) -> str:
    from stream_monitor.tools.docs_metrics import metrics_reference

    return metrics_reference()


def _config(_current: str) -> str:
    from stream_monitor.tools.docs_config import config_reference

    return config_reference()


def _env(current: str) -> str:
    from stream_monitor.tools.docs_env import env_page

    return env_page(current)


# page name -> (path under the repository root, generator of the page from its current text)
PAGES: dict[str, tuple[str, Callable[[str], str]]] = {
    "metrics": ("docs/metrics.md", _metrics),
    "config": ("docs/configuration.md", _config),
    "env": ("docs/configuration-env.md", _env),
}


def render(page: str, current: str = "") -> str:
    """The generated text of one page (``current``: the page as it is, for pages that are
    only partly generated)."""
    return PAGES[page][1](current)


def stale(root: Path, pages: Sequence[str]) -> list[str]:
    """The pages whose file under ``root`` differs from what the code generates."""
    out = []
    for page in pages:
        path = root / PAGES[page][0]
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        try:
            fresh = render(page, current)
        except ValueError:  # a partly generated page without its markers
            fresh = None
        if current != fresh:
            out.append(PAGES[page][0])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stream_monitor.tools.docs_gen")
    parser.add_argument("page", choices=[*PAGES, "all"])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: .)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a page is stale")
    args = parser.parse_args(argv)
    pages = list(PAGES) if args.page == "all" else [args.page]
    if args.check:
        bad = stale(args.root, pages)
        for path in bad:
            sys.stderr.write(f"{path} is stale: run python -m stream_monitor.tools.docs_gen all\n")
        return 1 if bad else 0
    for page in pages:
        path = args.root / PAGES[page][0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(page, path.read_text(encoding="utf-8") if path.exists() else ""), encoding="utf-8")
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
