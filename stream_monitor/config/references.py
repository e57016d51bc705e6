"""Reading reference data files and profile files (the I/O around windows.profile).

Reference rows come from CSV (header row; empty cells are missing) or JSON
Lines (one object per line). Both are streamed, never loaded whole as text.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from stream_monitor.errors import ReferenceError_
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.profile import ReferenceProfile, build_profile

__all__ = ["ConfiguredModels", "build_from_file", "load_profile", "load_references", "load_version_references",
           "read_rows", "save_profile"]


class ConfiguredModels(Protocol):
    """What the loaders read of :class:`~stream_monitor.settings.ServiceSettings`: its models.

    A protocol, so that the settings root can be built from this package's groups
    without this module importing it back.
    """

    @property
    def models(self) -> Sequence[ModelSpec]: ...


def read_rows(path: Path) -> Iterator[Mapping[str, Any]]:
    """Yield rows of a ``.csv`` or ``.jsonl``/``.ndjson`` file as dicts."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            yield from csv.DictReader(fh)
    elif suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    raise ReferenceError_(f"{path}:{lineno}: not valid JSON") from None
                if not isinstance(row, dict):
                    raise ReferenceError_(f"{path}:{lineno}: not a JSON object")
                yield {**row.get("features", {}), **row} if isinstance(row.get("features"), dict) else row
    else:
        raise ReferenceError_(f"{path}: reference files must be .csv or .jsonl")


def build_from_file(spec: ModelSpec, path: Path) -> ReferenceProfile:
    try:
        return build_profile(spec, read_rows(path), source=path.name)
    except (OSError, ValueError) as exc:
        raise ReferenceError_(f"{path}: {exc}") from None


def save_profile(profile: ReferenceProfile, path: Path) -> None:
    path.write_text(profile.model_dump_json(indent=1), encoding="utf-8")


def load_profile(path: Path) -> ReferenceProfile:
    try:
        return ReferenceProfile.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise ReferenceError_(f"{path}: not a reference profile: {exc}") from None


def load_references(settings: ConfiguredModels) -> dict[str, ReferenceProfile | None]:
    """The static reference of every model (``None`` for models that learn one)."""
    out: dict[str, ReferenceProfile | None] = {}
    for spec in settings.models:
        ref = spec.reference
        if ref.profile is not None:
            profile = load_profile(ref.profile)
            missing = {f.name for f in spec.features} - profile.features.keys()
            if missing:
                raise ReferenceError_(f"{ref.profile}: no profile for features {sorted(missing)}")
            for f in spec.features:
                expected = "numeric" if f.type == "numeric" else "categorical"
                if profile.features[f.name].kind != expected:
                    raise ReferenceError_(f"{ref.profile}: feature {f.name!r} is profiled as "
                                          f"{profile.features[f.name].kind}, configured {f.type}")
            if spec.seasonality is not None and profile.seasonal is None:
                raise ReferenceError_(f"{ref.profile}: seasonality is configured but the profile has no "
                                      "per-phase reference; build it again with seasonality configured")
            out[spec.model_id] = profile
        elif ref.path is not None:
            out[spec.model_id] = build_from_file(spec, ref.path)
        else:
            out[spec.model_id] = None
    return out


def load_version_references(settings: ConfiguredModels) -> dict[str, dict[str, ReferenceProfile]]:
    """The references of model versions configured with their own (``version_references``)."""
    out: dict[str, dict[str, ReferenceProfile]] = {}
    for spec in settings.models:
        for version, vr in spec.version_references.items():
            profile = load_profile(vr.profile) if vr.profile is not None else build_from_file(spec, vr.path)  # type: ignore[arg-type]
            out.setdefault(spec.model_id, {})[version] = profile
    return out
