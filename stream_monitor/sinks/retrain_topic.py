"""Retrain requests to their topic: JSON value, key = model id.

Requests are published with the broker's acknowledgement awaited; only then are
they marked published in the monitor (and so dropped from the snapshot's
pending list). A crash in between re-publishes the same ``request_id``.
"""

from __future__ import annotations

from collections.abc import Iterable

from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.sinks.base import Publisher

__all__ = ["RetrainTopicSink", "encode_request"]


def encode_request(request: RetrainRequest) -> bytes:
    return request.model_dump_json().encode()


class RetrainTopicSink:
    def __init__(self, publisher: Publisher, topic: str) -> None:
        self.publisher = publisher
        self.topic = topic

    async def publish(self, requests: Iterable[RetrainRequest]) -> list[str]:
        """Publish requests in order; return the ids the broker acknowledged."""
        done = []
        for r in requests:
            await self.publisher.publish(
                self.topic,
                r.model_id.encode(),
                encode_request(r),
                [("stream-monitor.request_id", r.request_id.encode())],
            )
            done.append(r.request_id)
        return done
