"""An immutable matrix of floats held in one read-only numpy array.

The reference sample (1,000 rows of 20 normal scores by default) used to be a
tuple of tuples: 20,000 float objects and 1,000 tuples, about 0.7 MB of Python
objects per model, held for as long as the profile is. As one float64 array it
is 160 kB. The values are the same float64 numbers, so everything computed from
them is bit-identical; the JSON form is exactly the tuple of tuples it was
(same bytes on disk, same profile fingerprint).

Reading it is what the consumers did with the tuples: ``len``, iterating rows
(tuples of floats), ``np.asarray(m, dtype=float)`` (no copy: the array itself,
read-only). Two matrices are equal when their shapes and values are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

__all__ = ["FloatMatrix"]

_Rows = tuple[tuple[float, ...], ...]


class FloatMatrix(Sequence[tuple[float, ...]]):
    """Rows of floats, stored as one read-only float64 array of shape (rows, columns).

    Examples
    --------
    >>> m = FloatMatrix([[0.5, -1.25], [2.0, 0.0]])
    >>> len(m), m[1], np.asarray(m, dtype=float).shape
    (2, (2.0, 0.0), (2, 2))
    >>> m == FloatMatrix(((0.5, -1.25), (2.0, 0.0)))
    True
    """

    __slots__ = ("_array",)

    def __init__(self, rows: Sequence[Sequence[float]] | np.ndarray) -> None:
        array = np.array(rows, dtype=np.float64)  # always a copy: nobody else holds a writable view
        if array.size == 0:
            array = array.reshape(len(array), 0) if array.ndim != 2 else array
        if array.ndim != 2:
            raise ValueError(f"a matrix needs rows of equal length, got an array of shape {array.shape}")
        array.flags.writeable = False
        self._array = array

    @property
    def array(self) -> np.ndarray:
        """The values: a read-only (rows, columns) float64 array."""
        return self._array

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if (dtype is None or np.dtype(dtype) == self._array.dtype) and not copy:
            return self._array
        return self._array.astype(dtype if dtype is not None else self._array.dtype)

    def __len__(self) -> int:
        return int(self._array.shape[0])

    @overload
    def __getitem__(self, index: int) -> tuple[float, ...]: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[tuple[float, ...], ...]: ...

    def __getitem__(self, index: int | slice) -> tuple[float, ...] | tuple[tuple[float, ...], ...]:
        if isinstance(index, slice):
            return tuple(tuple(r) for r in self._array[index].tolist())
        return tuple(self._array[index].tolist())

    def __iter__(self) -> Iterator[tuple[float, ...]]:
        for row in self._array.tolist():
            yield tuple(row)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FloatMatrix):
            return NotImplemented
        return self._array.shape == other._array.shape and bool(np.array_equal(self._array, other._array))

    def __hash__(self) -> int:
        return hash((self._array.shape, self._array.tobytes()))

    def __repr__(self) -> str:
        return f"FloatMatrix(<{self._array.shape[0]} x {self._array.shape[1]}>)"

    def __reduce__(self) -> tuple[type[FloatMatrix], tuple[np.ndarray]]:
        return (FloatMatrix, (self._array,))

    def to_rows(self) -> _Rows:
        """The values as a tuple of tuples of floats (how they are serialised)."""
        return tuple(tuple(r) for r in self._array.tolist())

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        # Validated and serialised as the tuple of tuples it replaces: the same JSON in and out.
        rows = handler.generate_schema(_Rows)
        from_rows = core_schema.no_info_after_validator_function(cls, rows)
        return core_schema.json_or_python_schema(
            json_schema=from_rows,
            python_schema=core_schema.union_schema([core_schema.is_instance_schema(cls), from_rows]),
            serialization=core_schema.plain_serializer_function_ser_schema(_serialise, return_schema=rows),
        )


def _serialise(value: Any) -> Any:
    return value.to_rows() if isinstance(value, FloatMatrix) else value
