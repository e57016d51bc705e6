"""(2) Validation at the edge: bytes -> Event | Rejection."""

from stream_monitor.validation.decode import REASON_CODES, ReasonCode, Rejection, decode

__all__ = ["REASON_CODES", "ReasonCode", "Rejection", "decode"]
