"""ServiceSettings: the one settings root, loaded from YAML with environment overrides.

Environment variables use the prefix ``STREAM_MONITOR_`` and ``__`` for nesting,
for example ``STREAM_MONITOR_KAFKA__BOOTSTRAP_SERVERS=broker:9092``. They win
over the YAML file, setting by setting: a number in the path is a list index
(``STREAM_MONITOR_MODELS__0__WINDOW__EVENTS=500`` changes the first model's
window and keeps the rest of the model; the index one past the end appends),
and a JSON array or object replaces the whole value
(``STREAM_MONITOR_MODELS__0__DETECTORS__NUMERIC='["ks", "mmd"]'``). Only
``app/worker.py`` and the CLI build settings; the rest of the code receives
them as arguments. docs/configuration-env.md lists every setting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from stream_monitor.errors import ConfigError
from stream_monitor.specs.model import ModelSpec

__all__ = [
    "FaultSettings",
    "KafkaSecurity",
    "KafkaSettings",
    "LimitSettings",
    "ServiceSettings",
    "TopicSettings",
    "WebSettings",
    "WorkerSettings",
    "format_errors",
]

_GROUP = ConfigDict(extra="forbid")


class KafkaSecurity(BaseModel):
    """Client security. SASL without TLS sends passwords in clear text and is
    refused unless ``allow_sasl_without_tls`` is set."""

    model_config = _GROUP
    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    allow_sasl_without_tls: bool = False

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        sasl = self.protocol.startswith("SASL")
        if sasl and self.sasl_mechanism is None:
            raise ValueError("SASL protocols need sasl_mechanism")
        if sasl and not self.sasl_username:
            raise ValueError("SASL protocols need sasl_username")
        if sasl and self.sasl_password is None and self.sasl_password_file is None:
            raise ValueError("SASL protocols need sasl_password or sasl_password_file")
        if self.protocol == "SASL_PLAINTEXT" and not self.allow_sasl_without_tls:
            raise ValueError(
                "SASL_PLAINTEXT sends credentials unencrypted; use SASL_SSL or set "
                "allow_sasl_without_tls: true"
            )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together")
        return self

    def password(self) -> str | None:
        """The SASL password, from the setting or the file; never logged."""
        if self.sasl_password is not None:
            return self.sasl_password.get_secret_value()
        if self.sasl_password_file is not None:
            return self.sasl_password_file.read_text().strip()
        return None


class KafkaSettings(BaseModel):
    model_config = _GROUP
    bootstrap_servers: str = "127.0.0.1:9092"
    security: KafkaSecurity = KafkaSecurity()


class TopicSettings(BaseModel):
    """Topic names (these are the defaults) and how to create them."""

    model_config = _GROUP
    predictions: str = "model-predictions"
    features: str = "model-features"
    labels: str = "model-labels"
    retrain_requests: str = "model-retrain-requests"
    dead_letter: str = "model-monitor-dlq"
    partitions: Annotated[int, Field(ge=1, le=1024)] = 4
    replication_factor: Annotated[int, Field(ge=1)] = 1
    create: bool = True


class WebSettings(BaseModel):
    """The worker's HTTP server: /metrics, /healthz, /readyz, /status."""

    model_config = _GROUP
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 9108


class WorkerSettings(BaseModel):
    model_config = _GROUP
    app_id: str = "stream-monitor"
    data_dir: Path = Path(".stream-monitor")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    batch_max_events: Annotated[int, Field(ge=1, le=100_000)] = 2000
    # How long faust gathers records before it hands a batch over. A retrain request waits
    # for it: with 0.1 s, a window's request took 338 ms (median of 15) from the send,
    # with 0.02 s 268 ms; throughput on single-event messages did not drop (0.96 and 1.01
    # of a bare faust agent gathering for 0.1 s, medians of 3 runs each).
    batch_max_seconds: Annotated[float, Field(gt=0, le=10)] = 0.02
    # faust hands over up to batch_max_events *records*; envelopes make that many events.
    # The core takes a batch in slices of at most this many record bytes and the event
    # loop turns between slices, so /metrics, /healthz and the timers keep answering.
    slice_max_bytes: Annotated[int, Field(ge=1024, le=64 * 1_048_576)] = 1_048_576
    snapshot_interval_seconds: Annotated[float, Field(ge=0, le=3600)] = 1.0
    commit_interval_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0
    session_timeout_seconds: Annotated[float, Field(ge=6, le=300)] = 10.0
    # How long a fetch may wait at the broker for records (faust fixes 1500 ms). The embedded
    # broker answers a waiting fetch only some time after records arrive: a window's records
    # waited up to 54 ms with 100, 27 ms with 50 (p99 of 60 windows). A broker that answers
    # at once is not slowed by a longer wait. An idle worker sends 1000 / this many empty
    # fetches a second: idle, worker and embedded broker used 3.3% and 2.9% of a core with
    # 100, 3.2% and 3.7% with 50, 6.1% and 7.9% with 20.
    fetch_max_wait_ms: Annotated[int, Field(ge=1, le=10_000)] = 50
    publish_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    loop_block_limit_seconds: Annotated[float, Field(gt=0)] = 5.0
    stall_after_seconds: Annotated[float, Field(gt=0)] = 30.0


class FaultSettings(BaseModel):
    """Fault injection for the test suite. Never set these in production."""

    model_config = _GROUP
    block_loop_seconds: Annotated[float, Field(ge=0, le=600)] = 0.0  # block once, after a batch
    block_after_batches: Annotated[int, Field(ge=1)] = 1
    crash_before_publish: bool = False  # exit once between deciding and publishing a request


class LimitSettings(BaseModel):
    """Bounds that protect the worker from its input."""

    model_config = _GROUP
    max_message_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 1_048_576
    # Events further ahead than this of both the processing time and the newest
    # accepted event time of their model are dead-lettered (timestamp_out_of_range).
    max_event_skew_seconds: Annotated[float, Field(gt=0)] | None = 86_400.0
    # A learned model version without events for this long (event time) may give its
    # place in the allow-list (max_versions per model) to a new version.
    version_idle_seconds: Annotated[float, Field(ge=0)] = 3_600.0


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
        from stream_monitor.detectors.checks import spec_problems

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
        return (_EnvOverYaml(settings_cls, init_settings, env_settings),)

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


class _EnvOverYaml(PydanticBaseSettingsSource):
    """The YAML values with the environment's merged in (see the module docstring)."""

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
