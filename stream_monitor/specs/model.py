"""What to monitor for one model: :class:`ModelSpec`, the root of its parts.

Its parts live beside it: the data side (features, prediction, reference, window,
seasonality, feature join) in :mod:`stream_monitor.specs.inputs`, the detectors and
the retrain policy in :mod:`stream_monitor.specs.detection`, the label path in
:mod:`stream_monitor.specs.labels`. These models are part of
:class:`~stream_monitor.settings.ServiceSettings` and are the only place where
label values of metrics come from: model ids, feature names, versions and
sensitive attribute names are all declared here.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from stream_monitor.specs.detection import DetectorsSpec, RetrainPolicySpec
from stream_monitor.specs.inputs import (
    _STRICT,
    FeatureJoinSpec,
    FeatureSpec,
    LabelName,
    PredictionSpec,
    ReferenceSpec,
    SeasonalitySpec,
    VersionReferenceSpec,
    WindowSpec,
)
from stream_monitor.specs.labels import OTHER_GROUP, FairnessSpec, GroupName, LabelsSpec

__all__ = ["ModelSpec"]


class ModelSpec(BaseModel):
    """Everything stream-monitor needs to know about one model."""

    model_config = _STRICT
    model_id: LabelName
    versions: list[LabelName] = Field(default_factory=list)
    max_versions: Annotated[int, Field(ge=1, le=20)] = 3
    features: Annotated[list[FeatureSpec], Field(min_length=1, max_length=1000)]
    prediction: PredictionSpec = PredictionSpec()
    reference: ReferenceSpec
    # Versions with their own reference; others use ``reference`` (static or learned).
    version_references: dict[LabelName, VersionReferenceSpec] = Field(default_factory=dict)
    window: WindowSpec = WindowSpec()
    detectors: DetectorsSpec = DetectorsSpec()
    sensitive_attributes: list[LabelName] = Field(default_factory=list)
    retrain: RetrainPolicySpec = RetrainPolicySpec()
    # The label path (stream_monitor.specs.labels): ground truth and fairness; both optional.
    labels: LabelsSpec | None = None
    fairness: FairnessSpec | None = None
    # Per-segment drift (stream_monitor.windows.segments): attribute -> declared
    # groups; the window tests run per group (and ``other``) against the reference.
    segments: Annotated[
        dict[LabelName, Annotated[list[GroupName], Field(min_length=1, max_length=20)]], Field(max_length=8)
    ] = Field(default_factory=dict)
    feature_join: FeatureJoinSpec | None = None
    # Phase-matched reference (stream_monitor.windows.seasonal); ``none`` (the default): off.
    seasonality: SeasonalitySpec | None = None

    @field_validator("seasonality", mode="before")
    @classmethod
    def _none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() in ("none", "off", "") else value

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate feature names: {', '.join(dupes)}")
        if self.versions and len(self.versions) > self.max_versions:
            raise ValueError("more versions listed than max_versions")
        if self.fairness is not None:
            unknown = sorted(set(self.fairness.groups) - set(self.sensitive_attributes))
            if unknown:
                raise ValueError(f"fairness groups for attributes not in sensitive_attributes: {', '.join(unknown)}")
        for attr, gs in self.segments.items():
            if OTHER_GROUP in gs or len(set(gs)) != len(gs):
                raise ValueError(f"segments of {attr!r} must be distinct and not {OTHER_GROUP!r}")
        if self.seasonality is not None:
            if self.reference.learn_first_n is not None:
                raise ValueError("seasonality needs a reference file or profile with event times, "
                                 "not learn_first_n (the first events do not cover whole cycles)")
            if self.reference.rolling_windows is not None:
                raise ValueError("seasonality and reference.rolling_windows exclude each other "
                                 "(a rolling reference has no phase)")
            if self.detectors.streaming:
                raise ValueError("seasonality and detectors.streaming exclude each other (the streaming "
                                 "detectors see the raw score, not its phase; the sequential CUSUMs are phase-matched)")
        return self

    def params_hash(self) -> str:
        """A short hash of every parameter that shapes state; snapshots carry it."""
        # The label path has its own state and hash (stream_monitor.pipeline.label_monitor), so
        # adding it to a model does not reset the drift state. Segment windows carry
        # their own hash (stream_monitor.windows.segments) and the feature join only
        # routes events, so neither resets the model's windows either.
        # Seasonality is left out when off, so that models without it keep their hash; the
        # CUSUMs' head start only says where a stream restarts after an alarm (their sums stay
        # valid), so changing it keeps the state too.
        skip: dict[str, Any] = dict.fromkeys(("retrain", "labels", "fairness", "segments", "feature_join"), True)
        skip["detectors"] = {"sequential": {"head_start"}}
        if self.seasonality is None:
            skip["seasonality"] = True
        blob = self.model_dump_json(exclude=skip).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
