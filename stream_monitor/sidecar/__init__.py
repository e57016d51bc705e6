"""The language-neutral sidecar: events over HTTP on localhost, and KServe's inference logger, to Kafka.

``stream-monitor sidecar`` runs an HTTP server beside a model server (the same pod
in Kubernetes). Apps in any language ``POST /v1/events`` with the event contract's
JSON; KServe's inference logger posts each request and response as a CloudEvent,
which the sidecar pairs by id and maps to prediction events with a mapping file.
Events go to Kafka through the Python client's bounded buffer and sender, so the
same accounting holds: every event received is delivered or dropped with a reason,
and ``/metrics`` says which.

Modules, in the order data moves: :mod:`.cloudevents` (CloudEvent attributes),
:mod:`.tensors` (V1 and Open Inference Protocol v2 payloads as rows),
:mod:`.pairing` (request/response pairing, bounded), :mod:`.mapping` (rows to
events), :mod:`.kserve` (the KServe intake), :mod:`.contract` (``/v1/events``
bodies), :mod:`.forward` (to Kafka), :mod:`.metrics`, :mod:`.server` (HTTP),
:mod:`.command` (the CLI command). The package imports no HTTP or Kafka library
until the server is built (``stream_monitor.sidecar.server``).
"""

from stream_monitor.sidecar.mapping import SidecarMapping, load_mapping

__all__ = ["SidecarMapping", "load_mapping"]
