"""Every relative link in README.md, docs/ and benchmarks/results/ points at a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

from . import helpers as h

# Linked from the README's documentation index; written alongside, not yet in this tree.
# A page that exists must leave this set (the second test says so).
PENDING = {
}

_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _pages() -> list[Path]:
    return [h.ROOT / "README.md", *sorted((h.ROOT / "docs").rglob("*.md")),
            *sorted((h.ROOT / "benchmarks" / "results").glob("*.md"))]


def _targets() -> dict[str, list[str]]:
    """Relative link target (from the repository root) -> pages that link it."""
    out: dict[str, list[str]] = {}
    for page in _pages():
        for link in _LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", link) or link.startswith("#"):
                continue
            target = (page.parent / link.split("#", 1)[0]).resolve()
            rel = target.relative_to(h.ROOT).as_posix() if target.is_relative_to(h.ROOT) else str(target)
            out.setdefault(rel.rstrip("/"), []).append(page.relative_to(h.ROOT).as_posix())
    return out


def test_every_relative_link_resolves() -> None:
    broken = [f"{target} (from {', '.join(pages)})" for target, pages in _targets().items()
              if not (h.ROOT / target).exists() and target not in PENDING]
    assert not broken, "\n".join(broken)


def test_pending_pages_are_still_missing() -> None:
    arrived = sorted(p for p in PENDING if (h.ROOT / p).exists())
    assert not arrived, f"remove from PENDING in {Path(__file__).name}: {arrived}"


def test_the_readme_stays_a_front_door() -> None:
    readme = (h.ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    for section in ("## Two commands", "## A 5-minute tour", "## Configuration essentials",
                    "## Guarantees in brief", "## Documentation"):
        assert f"\n{section}\n" in readme, section
