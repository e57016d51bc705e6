"""Inference payloads as rows: KServe V1 (``instances``/``predictions``) and Open Inference Protocol v2.

V1 carries one row per instance: ``{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}``
and ``{"predictions": [1, 1]}``; a row is a scalar, a list (columns by position) or an
object (columns by name).

Open Inference Protocol v2 carries named tensors:
``{"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32", "data": [6.8, ...]}]}``
and ``{"outputs": [{"name": "output-0", "shape": [2], "datatype": "INT32", "data": [1, 1]}]}``.
``data`` is the tensor in row-major order, flat or nested; its element count must equal
the product of ``shape``. The first dimension is the batch: a tensor of shape
``[N, k...]`` is N rows of ``k...`` elements (flattened), a tensor of shape ``[N]`` N scalars.

:func:`parse_payload` returns a :class:`Table`: each tensor's rows (V1's single tensor is
named ``""``). Errors are :class:`~stream_monitor.sidecar.cloudevents.CloudEventError` with a
fixed reason (``bad_payload``, ``bad_shape``) and a field path naming tensors by position.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Final, Literal

from stream_monitor.sidecar.cloudevents import CloudEventError

__all__ = ["DATATYPES", "MAX_ROWS", "Row", "Table", "parse_payload"]

DATATYPES: Final = frozenset({"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                              "FP16", "FP32", "FP64", "BYTES"})
MAX_ROWS: Final = 10_000  # rows of one request: the most events one inference may become
_MAX_ELEMENTS: Final = 4_000_000
_MAX_DEPTH: Final = 32  # dimensions of a tensor

Row = Any  # a JSON scalar, a list of scalars (columns by position) or, in V1, an object
Side = Literal["request", "response"]


@dataclass(frozen=True)
class Table:
    """Rows of each tensor of one payload, in payload order; every tensor has ``rows`` rows."""

    protocol: Literal["v1", "v2"]
    tensors: dict[str, list[Row]]
    rows: int

    @property
    def first(self) -> str:
        return next(iter(self.tensors))


def _bad(reason: str, field: str, detail: str) -> CloudEventError:
    return CloudEventError(reason, field, detail)


def parse_payload(data: bytes, side: Side) -> Table:
    """The rows of a request (``instances`` or ``inputs``) or response (``predictions`` or ``outputs``)."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise _bad("bad_payload", "$", "payload is not JSON") from None
    if not isinstance(doc, dict):
        raise _bad("bad_payload", "$", "payload must be a JSON object")
    v1, v2 = ("instances", "inputs") if side == "request" else ("predictions", "outputs")
    if v1 in doc:
        rows = doc[v1]
        if not isinstance(rows, list) or not rows:
            raise _bad("bad_payload", v1, "must be a non-empty array")
        return Table("v1", {"": rows}, _check_rows(len(rows), v1))
    if v2 in doc:
        return _parse_v2(doc[v2], v2)
    raise _bad("bad_payload", "$", f"neither {v1!r} (V1) nor {v2!r} (v2) is present")


def _check_rows(n: int, field: str) -> int:
    if n > MAX_ROWS:
        raise _bad("bad_shape", field, f"more than {MAX_ROWS} rows")
    return n


def _parse_v2(tensors: Any, field: str) -> Table:
    if not isinstance(tensors, list) or not tensors:
        raise _bad("bad_payload", field, "must be a non-empty array of tensors")
    out: dict[str, list[Row]] = {}
    rows = -1
    for i, tensor in enumerate(tensors):
        where = f"{field}[{i}]"
        name, tensor_rows = _tensor(tensor, where)
        if name in out:
            raise _bad("bad_payload", f"{where}.name", "duplicate tensor name")
        if rows not in (-1, len(tensor_rows)):
            raise _bad("bad_shape", f"{where}.shape", "first dimension differs from the other tensors'")
        rows = len(tensor_rows)
        out[name] = tensor_rows
    return Table("v2", out, _check_rows(rows, field))


def _tensor(tensor: Any, where: str) -> tuple[str, list[Row]]:
    if not isinstance(tensor, dict):
        raise _bad("bad_payload", where, "a tensor must be an object")
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    if not isinstance(name, str) or not 0 < len(name) <= 128:
        raise _bad("bad_payload", f"{where}.name", "must be a string of 1 to 128 characters")
    if datatype not in DATATYPES:
        raise _bad("bad_payload", f"{where}.datatype", "not an Open Inference Protocol datatype")
    if (not isinstance(shape, list) or not shape or len(shape) > _MAX_DEPTH
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise _bad("bad_shape", f"{where}.shape", "must be a non-empty array of non-negative integers")
    if shape[0] == 0 or math.prod(shape) > _MAX_ELEMENTS:
        raise _bad("bad_shape", f"{where}.shape", f"needs 1 to {_MAX_ELEMENTS} elements and at least one row")
    flat = _flatten(tensor.get("data"), shape, f"{where}.data")
    if len(flat) != math.prod(shape):
        raise _bad("bad_shape", f"{where}.data", "element count differs from the product of shape")
    if len(shape) == 1:
        return name, flat
    width = len(flat) // shape[0]
    return name, [flat[r * width:(r + 1) * width] for r in range(shape[0])]


def _flatten(data: Any, shape: list[int], where: str) -> list[Any]:
    """Row-major elements of flat ``data``, or of nested ``data`` whose nesting is ``shape`` exactly."""
    if not isinstance(data, list):
        raise _bad("bad_payload", where, "must be an array")
    if not any(isinstance(x, list) for x in data):
        return data
    out: list[Any] = []
    stack: list[tuple[list[Any], int]] = [(data, 0)]
    leaf = len(shape) - 1
    while stack:  # iterative: a deeply nested body must not exhaust the recursion limit
        seq, depth = stack.pop()
        if len(seq) != shape[depth]:
            raise _bad("bad_shape", where, "nested data does not match shape")
        if depth == leaf:
            if any(isinstance(x, list) for x in seq):
                raise _bad("bad_shape", where, "nested deeper than shape")
            out.extend(seq)
            continue
        if not all(isinstance(x, list) for x in seq):
            raise _bad("bad_shape", where, "nested data does not match shape")
        stack.extend((x, depth + 1) for x in reversed(seq))
    return out
