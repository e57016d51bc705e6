"""(1) Inbound contracts."""

from stream_monitor.events.envelope import ColumnarEnvelope, encode_columns, encode_rows
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
    "ColumnarEnvelope",
    "Event",
    "EventKind",
    "FeatureEvent",
    "FeatureValue",
    "LabelEvent",
    "PredictionEvent",
    "encode_columns",
    "encode_rows",
]
