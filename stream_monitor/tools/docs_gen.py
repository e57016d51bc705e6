"""Generate the reference pages of ``docs/`` and the JSON Schemas of ``schemas/`` from the code.

    python -m stream_monitor.tools.docs_gen metrics          # write docs/metrics.md
    python -m stream_monitor.tools.docs_gen config           # write docs/configuration.md
    python -m stream_monitor.tools.docs_gen env              # the table in docs/configuration-env.md
    python -m stream_monitor.tools.docs_gen all --check      # exit 1 if a page is stale

The metrics page comes from the Prometheus registry the exporter fills
(:mod:`stream_monitor.tools.docs_metrics`), the configuration page from the settings models
(:mod:`stream_monitor.tools.docs_config`), the environment variables' table from the
same models (:mod:`stream_monitor.tools.docs_env`; the page around it is prose). CI runs the check through
``tests/ops/test_generated_docs.py``.

The JSON Schema of every message stream-monitor reads or writes (:func:`all_schemas`; the
headers of a dead letter are :class:`DeadLetterHeaders`) is exported into ``schemas/`` by
``stream-monitor schemas`` (:func:`write_schemas`); a test fails when it is out of date.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.events.envelope import ColumnarEnvelope
from stream_monitor.events.models import BatchEnvelope, FeatureEvent, LabelEvent, PredictionEvent
from stream_monitor.validation import ReasonCode

__all__ = ["PAGES", "DeadLetterHeaders", "all_schemas", "main", "render", "stale", "write_schemas"]


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


class DeadLetterHeaders(BaseModel):
    """Headers of a record on the dead-letter topic (names prefixed ``stream-monitor.``).
    The record value is the refused value, unchanged; the key is the original key."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)
    reason: ReasonCode = Field(alias="stream-monitor.reason")
    message: str = Field(alias="stream-monitor.message", description="field names and error types only")
    topic: str = Field(alias="stream-monitor.topic")
    partition: str = Field(alias="stream-monitor.partition", pattern=r"^[0-9]+$")
    offset: str = Field(alias="stream-monitor.offset", pattern=r"^[0-9]+$")
    index: str | None = Field(None, alias="stream-monitor.index", pattern=r"^[0-9]+$")
    next_offset: str | None = Field(None, alias="stream-monitor.next-offset", pattern=r"^[0-9]+$",
                                    description="after a batch the consumer could not decode")
    truncated: str | None = Field(None, alias="stream-monitor.truncated", pattern=r"^[0-9]+$",
                                  description="original value size when the value was cut")
    sha256: str | None = Field(None, alias="stream-monitor.sha256", pattern=r"^[0-9a-f]{64}$",
                               description="of the whole original value, when it was cut")
    dropped: str | None = Field(None, alias="stream-monitor.dropped", description="'key,headers' when dropped")
    schema_: str = Field("1", alias="stream-monitor.schema")


def all_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every message, by name (the file name in ``schemas/`` without ``.json``)."""
    models: dict[str, type[BaseModel]] = {
        "prediction-event": PredictionEvent,
        "feature-event": FeatureEvent,
        "label-event": LabelEvent,
        "batch-envelope": BatchEnvelope,
        "columnar-envelope": ColumnarEnvelope,
        "retrain-request": RetrainRequest,
        "dead-letter-headers": DeadLetterHeaders,
    }
    out = {}
    for name, model in models.items():
        schema = model.model_json_schema(by_alias=True)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://stream-monitor.dev/schemas/{name}.json"
        out[name] = schema
    return out


def write_schemas(directory: Path) -> list[Path]:
    """Write every schema of :func:`all_schemas` into ``directory``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in all_schemas().items():
        path = directory / f"{name}.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


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
