"""(2) Validation at the edge: bytes -> Event | Rejection."""

from stream_monitor.validation.decode import decode
from stream_monitor.validation.rejection import REASON_CODES, ReasonCode, Rejection

__all__ = ["REASON_CODES", "ReasonCode", "Rejection", "decode"]
