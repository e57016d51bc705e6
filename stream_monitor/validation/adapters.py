"""The pydantic adapters that read record values, built once per topic kind at import.

One module-level :class:`pydantic.TypeAdapter` per topic kind validates the raw
JSON bytes directly (no intermediate ``json.loads``): a tagged union of the
event kinds, the batch envelope and the columnar envelope; untagged events take
the topic's kind. :mod:`stream_monitor.validation.decode` picks the path.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import Discriminator, Field, Tag, TypeAdapter, create_model

from stream_monitor.events.models import MAX_BATCH_EVENTS, BatchEnvelope, FeatureEvent, LabelEvent, PredictionEvent
from stream_monitor.validation.columnar import LooseColumnarEnvelope

__all__ = ["ADAPTERS", "ENVELOPE_PREFIX", "HOMOGENEOUS", "MODELS", "OBJECT", "OWN_KIND", "TAGS"]

MODELS: Final[dict[str, type[PredictionEvent | FeatureEvent | LabelEvent]]] = {
    "prediction": PredictionEvent,
    "feature": FeatureEvent,
    "label": LabelEvent,
}
TAGS: Final[frozenset[str]] = frozenset({*MODELS, "batch", "columns"})


def _tag_of(kind: str) -> Any:
    def discriminate(value: Any) -> str | None:
        if isinstance(value, dict):
            tag = value.get("kind", kind)
            return tag if isinstance(tag, str) else None
        return getattr(value, "kind", None)

    return discriminate


def _tagged(kind: str, batch: Any) -> TypeAdapter[Any]:
    """Any event kind (untagged ones are ``kind``) or a batch envelope modelled by ``batch``."""
    return TypeAdapter(
        Annotated[
            Annotated[PredictionEvent, Tag("prediction")]
            | Annotated[FeatureEvent, Tag("feature")]
            | Annotated[LabelEvent, Tag("label")]
            | Annotated[batch, Tag("batch")]
            | Annotated[LooseColumnarEnvelope, Tag("columns")],  # read again by decode_columns
            Discriminator(_tag_of(kind)),
        ]
    )


def _homogeneous(kind: str) -> TypeAdapter[Any]:
    """A batch envelope whose events are all of the topic's kind (tagged or not): no
    per-event discriminator, so pydantic validates it straight from the bytes."""
    fields: dict[str, Any] = {
        "kind": (Literal["batch"], ...),
        "events": (Annotated[list[MODELS[kind]], Field(max_length=MAX_BATCH_EVENTS)], ...),  # type: ignore[valid-type]
    }
    return TypeAdapter(create_model(f"{kind.title()}BatchEnvelope", __config__=BatchEnvelope.model_config, **fields))


def _adapters(kind: str) -> tuple[TypeAdapter[Any], TypeAdapter[Any], TypeAdapter[Any], TypeAdapter[Any]]:
    """Adapters for a topic whose untagged events are of ``kind``; tagged events
    of any kind are accepted (a backtest file mixes them)."""
    event = Annotated[
        Annotated[PredictionEvent, Tag("prediction")]
        | Annotated[FeatureEvent, Tag("feature")]
        | Annotated[LabelEvent, Tag("label")],
        Discriminator(_tag_of(kind)),
    ]
    # The fast adapter reads a batch envelope with typed inner events: one pass over
    # the bytes validates the whole batch. It is only trusted when it succeeds; any
    # error is redone by ``top`` (BatchEnvelope, then event by event) to classify it.
    fields: dict[str, Any] = {
        "kind": (Literal["batch"], ...),
        "events": (Annotated[list[event], Field(max_length=MAX_BATCH_EVENTS)], ...),
    }
    typed_batch = create_model("TypedBatchEnvelope", __config__=BatchEnvelope.model_config, **fields)
    fast = _tagged(kind, typed_batch)
    top = _tagged(kind, BatchEnvelope)
    many: TypeAdapter[Any] = TypeAdapter(list[event])
    one: TypeAdapter[Any] = TypeAdapter(event)
    return fast, top, many, one


ADAPTERS: Final = {kind: _adapters(kind) for kind in MODELS}
# The two fastest paths call pydantic-core's validator directly: the adapter's
# Python wrapper cost ~0.4 us per call, ~8% of validating one event.
HOMOGENEOUS: Final = {kind: _homogeneous(kind).validator for kind in MODELS}
# A single event of the topic's own kind (tagged or not), without the per-event
# discriminator callable of the tagged union; anything else fails it and takes the paths below.
OWN_KIND: Final = {kind: TypeAdapter(model).validator for kind, model in MODELS.items()}
ENVELOPE_PREFIX: Final = b'{"kind":"batch"'  # how the sidecar client and traffic tools write envelopes
OBJECT: Final = TypeAdapter(dict[str, Any])
