"""What to do with a batch of records from the retrain topic: pure, no I/O.

Every record gets exactly one step, in offset order:

* :class:`Poison` -- the value is not a valid retrain request (reason code and
  a message naming fields, never their values); it goes to the dead-letter topic;
* :class:`Skip` -- the request id is resolved already (the store knows it, or
  it came earlier in the same batch): a re-delivery, not run again;
* :class:`Superseded` -- a later request in the same batch, of the same model
  and version, names it in ``supersedes``: it is recorded as superseded and not
  handled (chains collapse: A <- B <- C hands only C to the handler);
* :class:`Handle` -- the handler gets it; ``replaces`` lists the ids it
  superseded in this batch, oldest first.

A request that supersedes one resolved earlier (handled in an earlier batch) is
handled normally: it is newer evidence for the same incident.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from stream_monitor.decisions.request import RetrainRequest

__all__ = ["Handle", "Incoming", "Poison", "Skip", "Step", "Superseded", "decode", "plan"]

MAX_ID_CHARS = 256
MAX_FIELD_CHARS = 64


@dataclass(frozen=True, slots=True)
class Incoming:
    """One consumed record (the listener's view of it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Poison:
    record: Incoming
    reason: str
    message: str
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Skip:
    record: Incoming
    request_id: str


@dataclass(frozen=True, slots=True)
class Superseded:
    record: Incoming
    request_id: str
    by: str


@dataclass(frozen=True, slots=True)
class Handle:
    record: Incoming
    request: RetrainRequest
    replaces: tuple[str, ...] = ()


Step = Poison | Skip | Superseded | Handle


def _bad_id(value: str) -> bool:
    return not value or len(value) > MAX_ID_CHARS or not value.isprintable()


def _field(loc: tuple[int | str, ...]) -> str:
    """A field path for messages: unknown keys come from the input, so cut and escape them."""
    name = ".".join(str(p) for p in loc) or "(root)"
    if len(name) > MAX_FIELD_CHARS:
        name = name[:MAX_FIELD_CHARS] + "..."
    return name if name.isprintable() else name.encode("unicode_escape").decode("ascii")


def decode(record: Incoming) -> RetrainRequest | Poison:
    """The request in ``record``, or why it is poison."""
    if not record.value:
        return Poison(record, "empty_payload", "the record has no value")
    try:
        request = RetrainRequest.model_validate_json(record.value)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            return Poison(record, "invalid_json", "the value is not JSON")
        fields = sorted({_field(e["loc"]) for e in errors})
        return Poison(record, "schema_violation", "invalid fields: " + ", ".join(fields[:10]))
    # These travel to the handler as environment variables: printable and short.
    bad = [f for f in ("request_id", "model_id", "model_version") if _bad_id(getattr(request, f))]
    if bad:
        return Poison(record, "invalid_id", f"empty, too long or unprintable: {', '.join(bad)}")
    return request


def plan(records: Sequence[Incoming], resolved: Callable[[str], bool]) -> list[Step]:
    """One step per record, in the order given (see the module docstring)."""
    steps: list[Step] = []
    seen: set[str] = set()
    open_: dict[str, int] = {}  # request id -> index of its Handle step
    for record in records:
        got = decode(record)
        if isinstance(got, Poison):
            steps.append(got)
            continue
        rid = got.request_id
        if rid in seen or resolved(rid):
            steps.append(Skip(record, rid))
            continue
        seen.add(rid)
        replaces: tuple[str, ...] = ()
        old = open_.get(got.supersedes) if got.supersedes is not None else None
        if old is not None:
            prev = steps[old]
            assert isinstance(prev, Handle)  # noqa: S101 - open_ only indexes Handle steps
            same = (prev.request.model_id, prev.request.model_version) == (got.model_id, got.model_version)
            if same:
                steps[old] = Superseded(prev.record, prev.request.request_id, rid)
                del open_[prev.request.request_id]
                replaces = (*prev.replaces, prev.request.request_id)
        open_[rid] = len(steps)
        steps.append(Handle(record, got, replaces))
    return steps

