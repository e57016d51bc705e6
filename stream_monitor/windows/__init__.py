"""(3) Per-model windows: reference profiles, mergeable accumulators, boundaries."""

from stream_monitor.windows.accumulators import (
    Binning,
    CategoricalAccumulator,
    NumericAccumulator,
    binning_for,
    reference_counts,
)
from stream_monitor.windows.profile import (
    PREDICTION,
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    build_profile,
    categorical_key,
)
from stream_monitor.windows.window import Accumulator, Window, WindowLayout, next_boundary

__all__ = [
    "PREDICTION",
    "Accumulator",
    "Binning",
    "CategoricalAccumulator",
    "CategoricalProfile",
    "NumericAccumulator",
    "NumericProfile",
    "ReferenceProfile",
    "Window",
    "WindowLayout",
    "binning_for",
    "build_profile",
    "categorical_key",
    "next_boundary",
    "reference_counts",
]
