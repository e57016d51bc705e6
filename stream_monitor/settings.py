"""ServiceSettings: the one settings root, loaded from YAML with environment overrides.

Environment variables use the prefix ``STREAM_MONITOR_`` and ``__`` for nesting,
for example ``STREAM_MONITOR_KAFKA__BOOTSTRAP_SERVERS=broker:9092``. They win
over the YAML file, setting by setting: a number in the path is a list index
(``STREAM_MONITOR_MODELS__0__WINDOW__EVENTS=500`` changes the first model's
window and keeps the rest of the model; the index one past the end appends),
and a JSON array or object replaces the whole value
(``STREAM_MONITOR_MODELS__0__DETECTORS__NUMERIC='["ks", "mmd"]'``). Only
``app/worker.py`` and the CLI build settings; the rest of the code receives
them as arguments. docs/configuration-env.md lists every setting. The groups
other than the models are in :mod:`stream_monitor.config.groups`, the merge of
the environment over the file in :mod:`stream_monitor.config.sources`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from stream_monitor.config.groups import (
    FaultSettings,
    KafkaSettings,
    LimitSettings,
    TopicSettings,
    WebSettings,
    WorkerSettings,
)
from stream_monitor.config.sources import EnvOverYaml, format_errors
from stream_monitor.errors import ConfigError
from stream_monitor.specs.model import ModelSpec

__all__ = ["ServiceSettings"]


class ServiceSettings(BaseSettings):
    """The settings root. Build it with :meth:`from_yaml`."""

    model_config = SettingsConfigDict(
        env_prefix="STREAM_MONITOR_", env_nested_delimiter="__", extra="forbid"
    )
    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    web: WebSettings = WebSettings()
    worker: WorkerSettings = WorkerSettings()
    limits: LimitSettings = LimitSettings()
    faults: FaultSettings = FaultSettings()
    models: list[ModelSpec] = Field(default_factory=list)

    @field_validator("models")
    @classmethod
    def _detectors_build(cls, models: list[ModelSpec]) -> list[ModelSpec]:
        # The registries own the detector names; imported on use, as the specs' validators did.
        from stream_monitor.detectors.streaming import spec_problems

        problems = [f"model {i} ({m.model_id}): {p}" for i, m in enumerate(models) for p in spec_problems(m)]
        if problems:
            raise ValueError("; ".join(problems))
        return models

    @model_validator(mode="after")
    def _unique_models(self) -> Self:
        ids = [m.model_id for m in self.models]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate model_id: {', '.join(dupes)}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the YAML file (which arrives as init kwargs), merged
        # value by value, list items included: pydantic-settings' own merge would replace
        # a YAML list with the environment's {"0": ...} mapping and fail validation.
        return (EnvOverYaml(settings_cls, init_settings, env_settings),)

    @classmethod
    def from_yaml(cls, path: Path | str) -> ServiceSettings:
        """Load and validate a YAML file; relative file paths resolve against it.

        Raises :class:`ConfigError` whose message lists every error with its location.
        """
        path = Path(path)
        try:
            data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
        try:
            settings = cls(**data)
        except ValidationError as exc:
            raise ConfigError(format_errors(exc, path)) from None
        if not settings.models:  # an empty file validates as every default: nothing to monitor
            raise ConfigError(f"{path}: models: no model configured; add one (config/demo.yaml is an example)")
        return settings.resolved_against(path.parent)

    def resolved_against(self, base: Path) -> ServiceSettings:
        """Return a copy whose relative reference paths are anchored at ``base``."""
        models = []
        for m in self.models:
            ref = m.reference
            updates = {
                k: (base / v) for k in ("path", "profile")
                if (v := getattr(ref, k)) is not None and not v.is_absolute()
            }
            versions = {
                v: vr.model_copy(update={
                    k: (base / x) for k in ("path", "profile")
                    if (x := getattr(vr, k)) is not None and not x.is_absolute()
                })
                for v, vr in m.version_references.items()
            }
            models.append(m.model_copy(update={"reference": ref.model_copy(update=updates),
                                               "version_references": versions}))
        return self.model_copy(update={"models": models})
