"""(1) Inbound contracts."""

from stream_monitor.events.models import (
    BatchEnvelope,
    Event,
    EventKind,
    FeatureEvent,
    FeatureValue,
    LabelEvent,
    PredictionEvent,
)

__all__ = [
    "BatchEnvelope",
    "Event",
    "EventKind",
    "FeatureEvent",
    "FeatureValue",
    "LabelEvent",
    "PredictionEvent",
]
