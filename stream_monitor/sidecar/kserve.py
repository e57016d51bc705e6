"""KServe's inference logger in: CloudEvents to paired payloads to prediction events.

:class:`KServeIntake` takes the CloudEvents of one HTTP request (binary or
structured mode, see :mod:`~stream_monitor.sidecar.cloudevents`), checks each
payload as it arrives (a malformed one is refused at once, so its counterpart
later expires and is counted), holds it in the :class:`~stream_monitor.sidecar.pairing.Pairer`
until the other side of the same inference arrives, and then maps the pair's N rows to N
prediction events checked by the event contract. Pure: no I/O, the clock is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel

from stream_monitor.sidecar.cloudevents import CloudEvent, CloudEventError, parse_binary, parse_structured
from stream_monitor.sidecar.contract import Problem, validate_predictions
from stream_monitor.sidecar.mapping import SidecarMapping, rows_to_events
from stream_monitor.sidecar.pairing import Pairer
from stream_monitor.sidecar.tensors import parse_payload

__all__ = ["STRUCTURED", "STRUCTURED_BATCH", "Intake", "KServeIntake", "describe"]

STRUCTURED: Final = "application/cloudevents+json"
STRUCTURED_BATCH: Final = "application/cloudevents-batch+json"


@dataclass
class Intake:
    """What one HTTP request of CloudEvents yields: events to forward, or why it was refused."""

    events: list[BaseModel] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # one fixed code per refused CloudEvent
    sides: list[str] = field(default_factory=list)
    invalid_events: int = 0  # rows of paired inferences the event contract refused

    @property
    def refused(self) -> bool:
        return bool(self.problems)


class KServeIntake:
    """CloudEvents in, validated prediction events out, pairing state bounded.

    Parameters
    ----------
    mapping
        Which InferenceService is which model, and where its values sit.
    pairer
        Holds one side of each inference until the other arrives.
    """

    def __init__(self, mapping: SidecarMapping, pairer: Pairer[CloudEvent]) -> None:
        self.mapping = mapping
        self.pairer = pairer

    def handle(self, content_type: str, headers: Mapping[str, str], body: bytes, now: float,
               wall: float) -> Intake:
        """Process the CloudEvents of one HTTP request; ``now`` is monotonic, ``wall`` epoch seconds."""
        out = Intake()
        try:
            if content_type in (STRUCTURED, STRUCTURED_BATCH):
                events = parse_structured(body, batch=content_type == STRUCTURED_BATCH)
            else:
                events = [parse_binary(headers, body)]
        except CloudEventError as exc:
            self._refuse(out, None, exc)
            return out
        for i, event in enumerate(events):
            out.sides.append(event.side)
            try:
                self._one(out, event, now, wall)
            except CloudEventError as exc:
                self._refuse(out, i if len(events) > 1 else None, exc)
        return out

    def _one(self, out: Intake, event: CloudEvent, now: float, wall: float) -> None:
        model = self.mapping.find(event)
        if model is None:
            raise CloudEventError("unknown_service", "inferenceservicename", "no mapping for this InferenceService")
        table = parse_payload(event.data, event.side)
        # The waiting side is held as its raw bytes (what the pairer's byte budget counts) and parsed
        # again when its counterpart comes: parsed rows take several times the memory of the bytes.
        other = self.pairer.offer(event.pair_key, event.side, event, len(event.data), now)
        if other is None:
            return
        request, response = other
        first = response if event.side == "request" else request
        held = parse_payload(first.data, first.side)
        inputs, outputs = (table, held) if event.side == "request" else (held, table)
        rows = rows_to_events(model, request, response, inputs, outputs, wall)
        events, problems = validate_predictions(rows)
        if problems:
            out.problems.extend(problems)
            out.reasons.append("invalid")
            out.invalid_events += len(rows)
            return
        out.events.extend(events)

    @staticmethod
    def _refuse(out: Intake, index: int | None, exc: CloudEventError) -> None:
        out.problems.append(Problem(index, exc.field, exc.detail))
        out.reasons.append(exc.reason)

    def pairing(self) -> tuple[dict[str, int], int, int]:
        """Pairing counters, entries held, bytes held (for the metrics)."""
        return self.pairer.counts(), self.pairer.pending, self.pairer.pending_bytes


def describe(out: Intake) -> dict[str, Any]:
    """The JSON error body of a refused request: field names and fixed reasons only."""
    return {"error": "invalid", "problems": [p.as_json() for p in out.problems]}
