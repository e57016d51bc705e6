"""(5) Decisions: readings -> drift decisions and retrain requests."""

from stream_monitor.decisions.policy import PolicyState, Quality, Reading, WindowReport, decide
from stream_monitor.decisions.request import Reason, ReferenceInfo, RetrainRequest, WindowInfo, request_id
from stream_monitor.decisions.thresholds import reject

__all__ = [
    "PolicyState",
    "Quality",
    "Reading",
    "Reason",
    "ReferenceInfo",
    "RetrainRequest",
    "WindowInfo",
    "WindowReport",
    "decide",
    "reject",
    "request_id",
]
