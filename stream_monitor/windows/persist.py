"""One generic mapping between live state objects and their persisted pydantic models.

A class that persists names its model (``State``) and inherits :class:`Persistent`; its
``to_state()`` and ``from_state()`` are derived from the model's fields, never written per
field:

- a field is read from the live attribute of the same name; ``From("a")`` on the field reads
  attribute ``a`` instead, ``From("a", "b", "c")`` reads the three as one positional tuple;
- a live value that is itself :class:`Persistent` becomes its own model, inside dicts, lists
  and tuples too; a model of a persistent class becomes that live object again on restore;
- numpy arrays are stored as lists (:data:`Int64Array`) and revived as int64 arrays;
- pydantic validates copies of the containers, and restore copies them back: a state never
  aliases the object it was taken from.

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
from collections.abc import Callable
from dataclasses import dataclass, is_dataclass
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar, cast

import numpy as np
from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

__all__ = ["From", "Int64Array", "Persistent", "Revive", "capture", "restore"]

S = TypeVar("S", bound=BaseModel)
T = TypeVar("T")

# The live class of each persisted model, filled as persistent classes are defined.
_LIVE: dict[type[BaseModel], type[Any]] = {}


class From:
    """Field marker: the live attribute(s) a field is read from and restored to."""

    __slots__ = ("names",)

    def __init__(self, *names: str) -> None:
        self.names = names


@dataclass(frozen=True, slots=True)
class Revive:
    """Field marker: how a stored value becomes the live one."""

    fn: Callable[[Any], Any]


def _listed(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


def _int64(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.int64)


# An int64 array: a list of ints in the model, an int64 array in the live object.
Int64Array = Annotated[list[int], BeforeValidator(_listed), Revive(_int64)]


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
    if isinstance(value, Persistent):
        return value.to_state()
    if isinstance(value, dict):
        return {k: _captured(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_captured(v) for v in value)
    if is_dataclass(value):  # pydantic would keep the instance itself
        return copy.deepcopy(value)
    return value


def capture(model: type[S], obj: object) -> S:
    """The state of ``obj`` as ``model``."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        names = _names(name, info)
        values = tuple(_captured(getattr(obj, n)) for n in names)
        fields[name] = values[0] if len(names) == 1 else values
    return model.model_validate(fields)


def _revived(value: Any) -> Any:
    live = _LIVE.get(type(value)) if isinstance(value, BaseModel) else None
    if live is not None:
        return live.from_state(value)
    if isinstance(value, dict):
        return {k: _revived(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_revived(v) for v in value)
    return copy.deepcopy(value)


def restore(cls: type[T], state: BaseModel, **extra: Any) -> T:
    """The live ``cls`` that ``state`` describes; ``extra`` gives constructor arguments the
    state does not hold (configuration)."""
    kwargs = dict(extra)
    for name, info in type(state).model_fields.items():
        value = getattr(state, name)
        revive = _marker(info, Revive)
        value = revive.fn(value) if revive is not None else _revived(value)
        names = _names(name, info)
        kwargs.update({names[0]: value} if len(names) == 1 else zip(names, value, strict=True))
    return cls(**kwargs)
