"""docs/runbooks/: one runbook page per alert, matching its runbook_url, and no stale page."""

from __future__ import annotations

import re

from . import helpers as h


def _pages() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in h.RUNBOOKS.glob("*.md") if p.stem != "README"}


def test_runbook_page_per_alert() -> None:
    pages = _pages()
    missing = []
    for rule in h.alert_rules():
        name, url = rule["alert"], rule["annotations"]["runbook_url"]
        page = url.removeprefix(h.RUNBOOK_BASE).removesuffix(".md")
        if not url.startswith(h.RUNBOOK_BASE) or page != name:
            missing.append(f"{name}: runbook_url {url} is not {h.runbook_url(name)}")
        elif not pages.get(name, "").startswith(f"# Runbook: {name}\n"):
            missing.append(f"{name}: docs/runbooks/{name}.md missing or not headed '# Runbook: {name}'")
    assert not missing, "\n".join(missing)


def test_no_runbook_without_alert() -> None:
    alerts = {r["alert"] for r in h.alert_rules()}
    assert set(_pages()) == alerts, f"stale runbooks: {sorted(set(_pages()) - alerts)}"


def test_runbook_index_links_every_page() -> None:
    index = (h.RUNBOOKS / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\((\w+)\.md\)", index))
    assert linked == set(_pages())

