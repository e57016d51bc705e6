"""The settings groups of :class:`~stream_monitor.settings.ServiceSettings` other than the models.

Kafka connection and security, topic names, the HTTP server, the worker's batching
and timing, the input limits and the fault injection used by the test suite. Each
group forbids unknown keys, so a misspelt setting is reported, not ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = [
    "FaultSettings",
    "KafkaSecurity",
    "KafkaSettings",
    "LimitSettings",
    "TopicSettings",
    "WebSettings",
    "WorkerSettings",
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
    # 100, 3.2% and 3.7% with 50, 6.1% and 7.9% with 20. With 50 the worker did not fetch
    # again after a 30 s broker outage (tests/integration/test_broker_outage.py fails with 50
    # and passes with 100), so 100 it is.
    fetch_max_wait_ms: Annotated[int, Field(ge=1, le=10_000)] = 100
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
