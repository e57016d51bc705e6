"""docs/metrics.md, docs/configuration.md and the table of docs/configuration-env.md are generated
from the code and kept current."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_monitor.tools import docs_env, docs_gen

from . import helpers as h

FIX = "run `python -m stream_monitor.tools.docs_gen all` and review the diff"


@pytest.mark.parametrize("page", sorted(docs_gen.PAGES))
def test_generated_page_is_current(page: str) -> None:
    assert docs_gen.stale(h.ROOT, [page]) == [], FIX


def test_a_stale_or_missing_page_is_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "metrics.md").write_text(docs_gen.render("metrics") + "edited\n", encoding="utf-8")
    env = tmp_path / "docs" / "configuration-env.md"  # prose around an empty generated table
    env.write_text(f"# Environment\n\n{docs_env.BEGIN}\n{docs_env.END}\n\nmore prose\n", encoding="utf-8")
    assert docs_gen.stale(tmp_path, ["metrics", "config", "env"]) == ["docs/metrics.md", "docs/configuration.md",
                                                                 "docs/configuration-env.md"]
    assert docs_gen.main(["all", "--check", "--root", str(tmp_path)]) == 1
    assert docs_gen.main(["all", "--root", str(tmp_path)]) == 0
    assert docs_gen.main(["all", "--check", "--root", str(tmp_path)]) == 0
    text = env.read_text(encoding="utf-8")
    assert text.startswith("# Environment\n") and text.endswith("more prose\n") and "STREAM_MONITOR_KAFKA__" in text


def test_configuration_page_lists_every_settings_group_and_model_key() -> None:
    text = docs_gen.render("config")
    for heading in ("`kafka.security`", "`worker`", "`limits`", "`models[]`", "`models[].reference`",
                    "`models[].detectors.sequential`", "`models[].retrain`", "`models[].labels`",
                    "`models[].fairness`"):
        assert f"## {heading}\n" in text, heading
    # a default, a bound and a source comment, read from the models
    assert "| `session_timeout_seconds` | float | 10.0 | >= 6, <= 300 |" in text
    assert "| `max_event_skew_seconds` | float \\| null | 86,400 | > 0 | Events further ahead" in text
