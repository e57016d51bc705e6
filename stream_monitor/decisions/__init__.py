"""(5) Decisions: readings -> drift decisions and retrain requests."""

from stream_monitor.decisions.conclusion import WindowReport, severity
from stream_monitor.decisions.judge import reject
from stream_monitor.decisions.policy import decide, decide_outcomes
from stream_monitor.decisions.request import Reason, ReferenceInfo, RetrainRequest, WindowInfo, request_id
from stream_monitor.decisions.state import PolicyState
from stream_monitor.detectors.reading import Quality, Reading

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
    "decide_outcomes",
    "reject",
    "request_id",
    "severity",
]
