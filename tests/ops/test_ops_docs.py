"""README.md "## Runbook": a runbook section for every alert, matching its runbook_url."""

from __future__ import annotations

import re

from . import helpers as h


def _github_anchor(heading: str) -> str:
    anchor = heading.strip().lower()
    anchor = re.sub(r"[^\w\- ]", "", anchor)
    return anchor.replace(" ", "-")


def test_runbook_section_per_alert() -> None:
    text = h.README.read_text(encoding="utf-8")
    headings = re.findall(r"^### (Runbook: .+?)\s*$", text, flags=re.M)
    anchors = {_github_anchor(x) for x in headings}
    missing = []
    for rule in h.alert_rules():
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        if anchor not in anchors:
            missing.append(f"{rule['alert']}: no '### Runbook: {rule['alert']}' (#{anchor})")
    assert not missing, "\n".join(missing)


def test_no_runbook_without_alert() -> None:
    text = h.README.read_text(encoding="utf-8")
    documented = set(re.findall(r"^### Runbook: (\w+)\s*$", text, flags=re.M))
    alerts = {r["alert"] for r in h.alert_rules()}
    assert documented == alerts, f"stale runbooks: {sorted(documented - alerts)}"
