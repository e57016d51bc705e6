"""Why a record was refused: the reason codes, :class:`Rejection` and the text of its message.

A rejection's message is built only from field *names* and error *types*, never
from input values, so that no raw feature value can leak into logs or the
dead-letter reason: path elements that are not field names of the event models
(a user-supplied feature name, say) are written as ``*``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from pydantic import ValidationError

from stream_monitor.events.models import BatchEnvelope
from stream_monitor.validation.adapters import MODELS, TAGS

__all__ = ["REASON_CODES", "ReasonCode", "Rejection", "classify", "safe_loc"]

ReasonCode = Literal[
    "empty_payload",
    "too_large",
    "invalid_json",
    "too_deep",
    "schema_violation",
    "non_finite_value",
    "unknown_model",
    "unknown_version",
    "batch_too_large",
    "duplicate_key",
    "timestamp_out_of_range",
    "undecodable_record",
    "undecodable_batch",
]
REASON_CODES: Final[tuple[str, ...]] = ReasonCode.__args__  # type: ignore[attr-defined]

# Union-branch markers in error locations; dropped so that "features.*.float" reads "features.*".
_BRANCHES: Final[frozenset[str]] = frozenset(
    {"bool", "float", "int", "str", "constrained-str", "constrained-float", "function-after[_rfc3339_seconds(), str]"}
)
# Names that may appear in a rejection message; any other path element (a
# user-supplied dict key, say) is replaced by "*".
_SAFE_LOC: Final[frozenset[str]] = frozenset(
    {name for m in (*MODELS.values(), BatchEnvelope) for name in m.model_fields}
    | _BRANCHES
)



@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one record (or one event inside a batch envelope) was refused."""

    reason: ReasonCode
    message: str
    index: int | None = None  # position inside a batch envelope, if any
    payload: bytes | None = None  # the inner event re-encoded, for batch envelopes


def safe_loc(loc: Iterable[int | str]) -> str:
    parts = [str(p) if isinstance(p, int) or p in _SAFE_LOC else "*" for p in loc]
    parts = [p for p in parts if p not in _BRANCHES]
    return ".".join(parts) or "$"


def classify(exc: ValidationError, index: int | None = None, *, tagged: bool = False) -> Rejection:
    errors = exc.errors(include_input=False, include_url=False, include_context=False)
    if tagged:  # errors of the top-level tagged union start with the tag; drop it
        for e in errors:
            if e["loc"] and e["loc"][0] in TAGS:
                e["loc"] = e["loc"][1:]
    types = {e["type"] for e in errors}
    if "json_invalid" in types:
        deep = any("recursion limit" in e["msg"] for e in errors)
        return Rejection("too_deep" if deep else "invalid_json", "payload is not valid JSON", index)
    if "finite_number" in types:
        locs = sorted({safe_loc(e["loc"]) for e in errors if e["type"] == "finite_number"})
        return Rejection("non_finite_value", "non-finite number at " + ", ".join(locs[:5]), index)
    seen: dict[str, str] = {}
    for e in errors:
        loc, typ = safe_loc(e["loc"]), e["type"]
        # A union reports every member's error; "*_type" only says a member did not
        # apply, so another member's error (an out-of-range number, say) tells more.
        if loc not in seen or (seen[loc].endswith("_type") and not typ.endswith("_type")):
            seen[loc] = typ
    detail = "; ".join(f"{loc}: {typ}" for loc, typ in list(seen.items())[:5])
    if len(seen) > 5:
        detail += f"; and {len(seen) - 5} more"
    return Rejection("schema_violation", detail, index)
