"""How a live mapping is stored in a model: as rows, as the list of its values, or in key order.

Each form is a :class:`~stream_monitor.windows.persist.Revive` marker whose ``store``
function :func:`~stream_monitor.windows.persist.capture` applies to the live mapping and
whose ``fn`` turns the stored form back into the mapping (its values copied, or revived
when they are models of persistent classes).

Examples
--------
>>> from typing import Annotated
>>> from pydantic import BaseModel
>>> from stream_monitor.windows.persist import assign, capture
>>> class QueueState(BaseModel):
...     waiting: Annotated[list[tuple[str, str, float, int]], as_rows(2, nested=True)]
...     seen: Annotated[list[tuple[str, int, float]], as_rows(2, single=True, sort=True)]
...     names: Annotated[dict[str, int], SortedKeys]
>>> class Queue:
...     waiting = {"e1": {"v1": [1.0, 0], "v2": [2.0, 1]}}
...     seen = {("t", 1): 5.0, ("a", 0): 3.0}
...     names = {"b": 2, "a": 1}
>>> state = capture(QueueState, Queue())
>>> state.waiting, state.seen
([('e1', 'v1', 1.0, 0), ('e1', 'v2', 2.0, 1)], [('a', 0, 3.0), ('t', 1, 5.0)])
>>> state.names
{'a': 1, 'b': 2}
>>> q = Queue()
>>> assign(q, state)
>>> q.waiting, q.seen
({'e1': {'v1': [1.0, 0], 'v2': [2.0, 1]}}, {('a', 0): 3.0, ('t', 1): 5.0})
"""

from typing import Any

from stream_monitor.windows.persist import Revive, revived

__all__ = ["SortedKeys", "as_rows", "as_values"]


def _keyed(mapping: dict[Any, Any], parts: int, nested: bool) -> list[tuple[tuple[Any, ...], Any]]:
    """(key parts, value) of each entry; with ``nested`` each level of ``parts`` is a mapping."""
    if nested and parts > 1:
        return [((k, *key), v) for k, inner in mapping.items() for key, v in _keyed(inner, parts - 1, nested)]
    return [(k if isinstance(k, tuple) else (k,), v) for k, v in mapping.items()]


def as_rows(parts: int, *, nested: bool = False, single: bool = False, sort: bool = False) -> Revive:
    """A mapping stored as rows: the ``parts`` parts of the key, then the items of the value
    (with ``single``, the value itself). A key of several parts is a tuple, or with ``nested``
    one mapping level per part; ``sort`` stores the rows in key order."""

    def store(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        entries = _keyed(value, parts, nested)
        if sort:
            entries.sort(key=lambda entry: entry[0])
        return [(*key, *((v,) if single else v)) for key, v in entries]

    def mapping(rows: list[tuple[Any, ...]]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for row in rows:
            key, rest = tuple(row[:parts]), row[parts:]
            value = revived(rest[0]) if single else [revived(x) for x in rest]
            if nested:
                inner = out
                for k in key[:-1]:
                    inner = inner.setdefault(k, {})
                inner[key[-1]] = value
            else:
                out[key if parts > 1 else key[0]] = value
        return out

    return Revive(mapping, store)


def as_values(attribute: str) -> Revive:
    """A mapping stored as the list of its values; restored keyed by each value's ``attribute``."""
    return Revive(lambda values: {getattr(v, attribute): revived(v) for v in values},
                  lambda value: list(value.values()) if isinstance(value, dict) else value)


def _in_key_order(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _in_key_order(v) for k, v in sorted(value.items(), key=lambda item: item[0])}
    return value


# A mapping (and the mappings in it) stored in key order.
SortedKeys = Revive(revived, _in_key_order)
