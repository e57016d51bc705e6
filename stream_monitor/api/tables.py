"""Tables in, rows out: pandas DataFrames, Arrow tables and lists of dicts as plain rows.

Neither pandas nor pyarrow is imported here: a table is recognised by its
methods (``to_pylist`` for Arrow, ``to_dict`` for pandas), so the core installs
and imports without them (``pip install 'stream-monitor[pandas]'`` adds both).

Cells are normalised to what the event contract accepts: numpy scalars become
Python numbers, NaN/NaT/None become missing, anything else that is not a
number, boolean or string becomes its string form.

Feature type inference (when no configuration is given) looks at the
reference rows only, column by column:

* a column whose non-missing values are all booleans is ``boolean``;
* a column whose non-missing values are all numbers (not booleans) is
  ``numeric`` when it has more than :data:`MAX_CATEGORICAL_INTEGERS` distinct
  values or any non-integer value, and ``categorical`` otherwise (a small set of
  integer codes is a category, not a quantity);
* every other column (strings, mixed types) is ``categorical``;
* a column with no non-missing value, or whose name is not a valid feature name
  (letters, digits and ``_.:-``, starting with a letter or ``_``, at most 64
  characters), is skipped and reported with the reason.

The columns ``prediction`` and ``score`` are the model output, ``timestamp`` is
the event time, ``event_id``, ``model_id`` and ``model_version`` identify the
event; none of them is a feature.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, TypeAlias, runtime_checkable

__all__ = [
    "MAX_CATEGORICAL_INTEGERS",
    "RESERVED",
    "Cell",
    "Columns",
    "Inferred",
    "Row",
    "TableLike",
    "cell",
    "infer_features",
    "iter_rows",
    "length",
    "to_columns",
    "to_rows",
]

Cell: TypeAlias = float | int | bool | str | None
Row: TypeAlias = dict[str, Cell]
Columns: TypeAlias = dict[str, list[Cell]]
MAX_CATEGORICAL_INTEGERS: Final = 10
RESERVED: Final = frozenset({"prediction", "score", "timestamp", "event_id", "model_id", "model_version", "kind"})
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")


@runtime_checkable
class _Arrow(Protocol):
    def to_pylist(self) -> list[dict[str, object]]: ...


@runtime_checkable
class _Pandas(Protocol):
    def to_dict(self, orient: str) -> list[dict[str, object]]: ...


TableLike: TypeAlias = "_Arrow | _Pandas | Iterable[Mapping[str, object]]"


def cell(value: object) -> Cell:
    """One value as the event contract wants it (``None`` for missing)."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return cell(item())
        except (TypeError, ValueError):
            pass
    text = str(value)
    return None if text in ("NaT", "nan", "<NA>") else text


_INF: Final = (math.inf, -math.inf)


def _clean(values: list[object]) -> list[Cell]:
    if all(type(v) is float for v in values):  # the common numeric column: one cheap pass
        return [None if (v != v or v in _INF) else v for v in values]  # type: ignore[misc]
    return [cell(v) for v in values]


def to_columns(table: TableLike) -> Columns:
    """The columns of a pandas DataFrame, an Arrow table (or record batch) or an iterable of
    mappings, as lists of cells of equal length (a row without a column: missing)."""
    if isinstance(table, _Arrow) and hasattr(table, "to_pydict"):
        return {str(k): _clean(list(v)) for k, v in table.to_pydict().items()}
    if isinstance(table, _Pandas) and hasattr(table, "columns"):
        frame: Any = table
        if len(set(frame.columns)) != len(frame.columns):
            raise ValueError("the DataFrame has duplicate column names")
        return {str(c): _clean(frame[c].tolist()) for c in frame.columns}
    if isinstance(table, str | bytes):
        raise TypeError("expected a DataFrame, an Arrow table or a list of dicts, not a string")
    rows = list(table)  # type: ignore[arg-type]
    names: dict[str, None] = {}
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise TypeError(f"row {i} is a {type(r).__name__}, not a mapping")
        names.update(dict.fromkeys(str(k) for k in r))
    return {n: [cell(r.get(n)) for r in rows] for n in names}


def length(columns: Columns) -> int:
    return len(next(iter(columns.values()))) if columns else 0


def iter_rows(columns: Columns) -> Iterator[Row]:
    """The rows of ``columns``, one dict at a time."""
    names = list(columns)
    for values in zip(*columns.values(), strict=True):
        yield dict(zip(names, values, strict=True))


def to_rows(table: TableLike) -> list[Row]:
    """The rows of a pandas DataFrame, an Arrow table (or record batch) or an iterable of mappings."""
    return list(iter_rows(to_columns(table)))


@dataclass(frozen=True, slots=True)
class Inferred:
    """What :func:`infer_features` decided: features with their types, and skipped columns."""

    features: tuple[tuple[str, Literal["numeric", "categorical", "boolean"]], ...]
    skipped: tuple[tuple[str, str], ...]  # (column, reason)


def _kind(values: Sequence[Cell]) -> Literal["numeric", "categorical", "boolean"] | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, bool) for v in present):
        return "boolean"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        integral = all(isinstance(v, int) or float(v).is_integer() for v in present)
        if integral and len(set(present)) <= MAX_CATEGORICAL_INTEGERS:
            return "categorical"
        return "numeric"
    return "categorical"


def infer_features(columns: Mapping[str, Sequence[Cell]]) -> Inferred:
    """Feature types of ``columns`` (the rule is in the module docstring)."""
    features: list[tuple[str, Literal["numeric", "categorical", "boolean"]]] = []
    skipped: list[tuple[str, str]] = []
    for name in columns:
        if name in RESERVED:
            continue
        if _NAME.fullmatch(name) is None:
            skipped.append((name, "not a valid feature name"))
            continue
        kind = _kind(columns[name])
        if kind is None:
            skipped.append((name, "no value in the reference"))
        else:
            features.append((name, kind))
    return Inferred(tuple(features), tuple(skipped))
