"""Where settings come from: the YAML file with the environment merged over it, and error text.

The environment overrides the YAML file setting by setting (see
:mod:`stream_monitor.settings`); :func:`merge_override` does that merge and
:func:`format_errors` turns a validation error into one line per problem.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from stream_monitor.errors import ConfigError

__all__ = ["EnvOverYaml", "format_errors", "merge_override"]


class EnvOverYaml(PydanticBaseSettingsSource):
    """The YAML values with the environment's merged in (see :mod:`stream_monitor.settings`)."""

    def __init__(self, settings_cls: type[BaseSettings], yaml_source: PydanticBaseSettingsSource,
                 env_source: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.yaml_source = yaml_source
        self.env_source = env_source

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        merged = merge_override(self.yaml_source(), self.env_source())
        return merged if isinstance(merged, dict) else {}


def merge_override(base: Any, override: Any, where: str = "") -> Any:
    """``override`` (from the environment: nested mappings of strings) applied to ``base``.

    >>> merge_override({"a": [{"x": 1, "y": 2}]}, {"a": {"0": {"x": "5"}}})
    {'a': [{'x': '5', 'y': 2}]}
    >>> merge_override({"a": ["ks"]}, {"a": {"1": "psi"}})
    {'a': ['ks', 'psi']}
    >>> merge_override({"a": ["ks"]}, {"a": '["mmd"]'})
    {'a': ['mmd']}
    """
    if isinstance(override, str) and isinstance(base, (list, dict)) and override.lstrip()[:1] in ("[", "{"):
        try:
            return json.loads(override)
        except ValueError:
            raise ConfigError(f"environment {where or '(root)'}: not valid JSON") from None
    if isinstance(override, dict) and base is None and override \
            and sorted(override) == [str(i) for i in range(len(override))]:
        base = []  # items 0..n-1 of a list the file leaves out
    if isinstance(override, dict) and isinstance(base, list):
        items = list(base)
        for key, value in sorted(override.items(), key=lambda kv: _index(kv[0], where)):
            i = _index(key, where)
            if i > len(items):
                raise ConfigError(f"environment {where}.{key}: list index past the end ({len(items)} items)")
            path = f"{where}.{key}" if where else key
            if i == len(items):
                items.append(merge_override({}, value, path) if isinstance(value, dict) else value)
            else:
                items[i] = merge_override(items[i], value, path)
        return items
    if isinstance(override, dict):
        out = dict(base) if isinstance(base, dict) else {}
        for key, value in override.items():
            out[key] = merge_override(out.get(key), value, f"{where}.{key}" if where else key)
        return out
    return override


def _index(key: str, where: str) -> int:
    if not key.isdigit():
        raise ConfigError(f"environment {where}.{key}: a list takes a number (index), not {key!r}")
    return int(key)


def format_errors(exc: ValidationError, source: Path | str) -> str:
    """One line per error: ``file: models.0.window.events: message``."""
    lines = []
    for e in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in e["loc"]) or "(root)"
        msg = "unknown key; remove it or fix its spelling" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"{source}: {loc}: {msg}")
    return "\n".join(lines)
