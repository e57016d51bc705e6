"""One generic mapping between live state objects and their persisted pydantic models.

A class that persists names its model (``State``) and inherits :class:`Persistent`; its
``to_state()`` and ``from_state()`` are derived from the model's fields, never written per
field. Objects built from configuration use the same mapping through :func:`capture`
(with ``given`` for computed fields) and :func:`assign` (into the configured object) or
:func:`restore` (with ``extra`` constructor arguments):

- a field is read from the live attribute of the same name; ``From("a")`` on the field reads
  attribute ``a`` instead, ``From("a", "b", "c")`` reads the three as one positional tuple,
  and a dotted ``From("_det._x_mean.n")`` reaches into a wrapped object;
- a live value that is :class:`Persistent` (or has its own ``to_state()``) becomes its
  model, inside dicts, lists and tuples too; a model of a persistent class becomes that
  live object again on restore (other models are revived by a ``Revive`` marker);
- numpy arrays are stored as lists (:data:`Int64Array`) and revived as int64 arrays;
  infinities as ``None`` (:data:`PosInfAsNone`, :data:`NegInfAsNone`); a mapping as rows,
  as its values or in key order (:mod:`~stream_monitor.windows.persist_mappings`);
- a ``Fixed`` field is a constant of the model (a schema version), neither read nor
  restored; :func:`assign` restores a ``Configured`` mapping into the configured one (only
  the keys configuration gave it);
- pydantic validates copies of the containers, dataclass values are copied, and restore
  copies back: a state never aliases the object it was taken from.

Define a ``Revive`` function above the model that uses it: pydantic drops a field's
metadata when the model is built before a name in its annotation exists.

Examples
--------
>>> from dataclasses import dataclass, is_dataclass
>>> from pydantic import BaseModel
>>> class PairState(BaseModel):
...     counts: Int64Array
...     span: Annotated[tuple[float, float], From("lo", "hi")]
>>> @dataclass
... class Pair(Persistent[PairState]):
...     State = PairState
...     counts: np.ndarray
...     lo: float
...     hi: float
>>> p = Pair(np.array([1, 2]), 0.5, 2.0)
>>> p.to_state()
PairState(counts=[1, 2], span=(0.5, 2.0))
>>> q = Pair.from_state(p.to_state())
>>> (q.counts.dtype.name, q.lo, q.hi)
('int64', 0.5, 2.0)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, is_dataclass
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar, cast

import numpy as np
from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

__all__ = ["Configured", "Fixed", "From", "Int64Array", "NegInfAsNone", "Persistent", "PosInfAsNone", "Revive",
           "assign", "capture", "restore", "revived"]

S = TypeVar("S", bound=BaseModel)
T = TypeVar("T")

# The live class of each persisted model, filled as persistent classes are defined.
_LIVE: dict[type[BaseModel], type[Any]] = {}


class From:
    """Field marker: the live attribute(s) a field is read from and restored to (a dotted
    path reaches into a wrapped object, e.g. a river detector's private state)."""

    __slots__ = ("names",)

    def __init__(self, *names: str) -> None:
        self.names = names


@dataclass(frozen=True, slots=True)
class Revive:
    """Field marker: how a stored value becomes the live one (``fn``) and, for a value stored
    in another form, how the live value becomes the stored one (``store``, by :func:`capture`)."""

    fn: Callable[[Any], Any]
    store: Callable[[Any], Any] | None = None


class Fixed:
    """Field marker: a constant of the model (its default, e.g. a schema version), neither
    read from the live object nor restored to it."""


class Configured:
    """Field marker: a mapping that :func:`assign` restores into the one configuration built:
    the stored entries of its keys replace theirs, entries of other keys are dropped."""


def _listed(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


def _int64(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.int64)


# An int64 array: a list of ints in the model, an int64 array in the live object.
Int64Array = Annotated[list[int], BeforeValidator(_listed), Revive(_int64)]


def _finite_or_none(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _inf(sign: float) -> Callable[[Any], Any]:
    return lambda v: math.copysign(math.inf, sign) if v is None else v


# A float that may be infinite (with that sign): stored as ``None`` (as any non-finite value).
PosInfAsNone = Annotated[float | None, BeforeValidator(_finite_or_none), Revive(_inf(1.0))]
NegInfAsNone = Annotated[float | None, BeforeValidator(_finite_or_none), Revive(_inf(-1.0))]


class Persistent(Generic[S]):
    """Base of a live object persisted as the model ``State``."""

    __slots__ = ()
    State: ClassVar[type[BaseModel]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "State" in cls.__dict__:
            _LIVE[cls.State] = cls

    def to_state(self) -> S:
        return cast(S, capture(self.State, self))

    @classmethod
    def from_state(cls, state: S) -> Self:
        return restore(cls, state)


def _marker(info: FieldInfo, kind: type[T]) -> T | None:
    return next((m for m in info.metadata if isinstance(m, kind)), None)


def _names(name: str, info: FieldInfo) -> tuple[str, ...]:
    marker = _marker(info, From)
    return marker.names if marker is not None else (name,)


def _captured(value: Any) -> Any:
    if isinstance(value, Persistent) or callable(getattr(value, "to_state", None)):
        return value.to_state()
    if isinstance(value, dict):
        return {k: _captured(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_captured(v) for v in value)
    if is_dataclass(value):  # pydantic would keep the instance itself
        return copy.deepcopy(value)
    return value


def capture(model: type[S], obj: object, **given: Any) -> S:
    """The state of ``obj`` as ``model``; ``given`` supplies fields that are computed rather
    than read (a detector's kind, its algorithm's state)."""
    fields: dict[str, Any] = dict(given)
    for name, info in model.model_fields.items():
        if name in given or _marker(info, Fixed) is not None:
            continue
        names = _names(name, info)
        values = tuple(_captured(_get(obj, n)) for n in names)
        value = values[0] if len(names) == 1 else values
        revive = _marker(info, Revive)
        fields[name] = value if revive is None or revive.store is None else revive.store(value)
    return model.model_validate(fields)


def revived(value: Any) -> Any:
    """The live form of a stored value: a model of a persistent class becomes that object
    (inside dicts, lists and tuples too); anything else is copied."""
    live = _LIVE.get(type(value)) if isinstance(value, BaseModel) else None
    if live is not None:
        return live.from_state(value)
    if isinstance(value, dict):
        return {k: revived(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(revived(v) for v in value)
    return copy.deepcopy(value)


def _live_fields(state: BaseModel, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The live attributes and values that ``state`` describes."""
    out: dict[str, Any] = {}
    for name, info in type(state).model_fields.items():
        if name in skip or _marker(info, Fixed) is not None:
            continue
        value = getattr(state, name)
        revive = _marker(info, Revive)
        value = revive.fn(value) if revive is not None else revived(value)
        names = _names(name, info)
        out.update({names[0]: value} if len(names) == 1 else zip(names, value, strict=True))
    return out


def restore(cls: type[T], state: BaseModel, **extra: Any) -> T:
    """The live ``cls`` that ``state`` describes; ``extra`` gives constructor arguments the
    state does not hold (configuration)."""
    return cls(**extra, **_live_fields(state))


def assign(obj: object, state: BaseModel, *, skip: tuple[str, ...] = ()) -> None:
    """Set the attributes of an existing ``obj`` (one built from configuration) to ``state``,
    but for the fields in ``skip``; a ``Configured`` mapping keeps its keys (see :class:`Configured`)."""
    model = type(state)
    configured = {_names(n, i)[0] for n, i in model.model_fields.items() if _marker(i, Configured) is not None}
    for path, value in _live_fields(state, skip).items():
        head, _, last = path.rpartition(".")
        target = _get(obj, head) if head else obj
        if path in configured:
            mapping = getattr(target, last)
            mapping.update({k: v for k, v in value.items() if k in mapping})
        else:
            setattr(target, last, value)


def _get(obj: object, path: str) -> Any:
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj
