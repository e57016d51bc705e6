"""The configuration reference, generated from the settings models.

One section per settings model reached from :class:`~stream_monitor.settings.ServiceSettings`
(nested groups, ``models[]`` and everything a model spec holds), one table row per field:
key, type, default, constraints and, where the field declares one, its description. The
section text is the model's docstring. Nothing here is written by hand, so the reference
cannot drift from what ``validate-config`` accepts.
"""

from __future__ import annotations

import inspect
import io
import json
import re
import textwrap
import tokenize
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import annotated_types as at
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

__all__ = ["Section", "config_reference", "sections"]

_BOUNDS = ((at.Ge, "ge", ">="), (at.Gt, "gt", ">"), (at.Le, "le", "<="), (at.Lt, "lt", "<"))


@dataclass(frozen=True)
class Section:
    """One settings model: its key path, docstring and field rows."""

    path: str
    doc: str
    rows: tuple[tuple[str, str, str, str, str], ...]


def _models_in(annotation: object) -> Iterator[tuple[str, type[BaseModel]]]:
    """Settings models inside a field type, with the key suffix that reaches them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield "", annotation
        return
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list:
        yield from ((f"[]{s}", m) for s, m in _models_in(args[0]))
    elif origin is dict:
        yield from ((f".<key>{s}", m) for s, m in _models_in(args[1]))
    elif origin in (typing.Union, types.UnionType, typing.Annotated):
        for arg in args if origin is not typing.Annotated else args[:1]:
            yield from _models_in(arg)


def _type_name(annotation: object) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" if not isinstance(a, str) else f'`"{a}"`' for a in args)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if origin is list or origin is tuple:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map {_type_name(args[0])} → {_type_name(args[1])}"
    if annotation is type(None):
        return "null"
    if annotation is SecretStr:
        return "secret"
    if annotation is Path:
        return "path"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value: object = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(defaults below)"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, Path):
        value = str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    if isinstance(value, int) and abs(value) >= 1000:
        return f"{value:,}"
    if isinstance(value, (str, list, dict, tuple)):
        return f"`{json.dumps(to_jsonable_python(value))}`"
    return str(value)


def _constraints(field: FieldInfo) -> str:
    parts = []
    for item in _metadata(field):
        for kind, attr, sign in _BOUNDS:
            if isinstance(item, kind):
                parts.append(f"{sign} {getattr(item, attr):,}")
        if isinstance(item, at.MinLen):
            parts.append(f"length >= {item.min_length}")
        if isinstance(item, at.MaxLen):
            parts.append(f"length <= {item.max_length}")
    return ", ".join(parts)


def _metadata(field: FieldInfo) -> list[object]:
    items = list(field.metadata)
    if typing.get_origin(field.annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(field.annotation):  # bounds of `Annotated[...] | None`
            if typing.get_origin(arg) is typing.Annotated:
                items.extend(typing.get_args(arg)[1:])
    return [m for x in items for m in (x.metadata if isinstance(x, FieldInfo) else [x])]


def _prose(text: str) -> str:
    """One line of Markdown from docstring or comment text (reST roles dropped)."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", " ".join(text.split()))
    return text.replace("``", "`").replace("|", "\\|")


def _doc(model: type[BaseModel]) -> str:
    own = model.__dict__.get("__doc__")
    return _prose(inspect.cleandoc(own)) if isinstance(own, str) else ""


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """The comments written on or just above each field's line in the model's source."""
    try:
        source = textwrap.dedent(inspect.getsource(model))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    inline: dict[int, str] = {}
    above: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            row, text = tok.start[0], tok.string.lstrip("#").strip()
            if tok.line.strip().startswith("#"):
                above[row] = text
            else:
                inline[row] = text
    out = {}
    for row, line in enumerate(lines, start=1):
        match = re.match(r"^    (\w+)\s*:", line)
        if not match or match.group(1) not in model.model_fields:
            continue
        block: list[str] = []
        prev = row - 1
        while prev in above:
            block.insert(0, above[prev])
            prev -= 1
        text = " ".join([*block, inline.get(row, "")]).strip()
        if text:
            out[match.group(1)] = _prose(text)
    return out


def sections(root: type[BaseModel], path: str = "") -> tuple[Section, ...]:
    """Every settings model reachable from ``root``, depth first, in field order."""
    rows = []
    nested: list[Section] = []
    comments = _comments(root)
    for name, field in root.model_fields.items():
        meaning = _prose(field.description) if field.description else comments.get(name, "")
        rows.append((name, _type_name(field.annotation), _default(field), _constraints(field), meaning))
        for suffix, model in _models_in(field.annotation):
            nested.extend(sections(model, f"{path}.{name}{suffix}".lstrip(".")))
    return (Section(path, _doc(root), tuple(rows)), *nested)


def config_reference() -> str:
    """The Markdown of docs/configuration.md."""
    from stream_monitor.settings import ServiceSettings

    out = [
        "# Configuration reference",
        "",
        "<!-- generated by `python -m stream_monitor.tools.docs_gen config`; do not edit -->",
        "",
        "Generated from the settings models (`stream_monitor/settings.py` and the model specs).",
        "Every key can be set in the YAML file or from the environment with the prefix",
        "`STREAM_MONITOR_` and `__` for nesting (`STREAM_MONITOR_KAFKA__BOOTSTRAP_SERVERS`);",
        "the environment wins. Unknown keys are errors. `stream-monitor validate-config PATH`",
        "checks a file. The commented example is [`config/demo.yaml`](../config/demo.yaml).",
        "",
    ]
    for sec in sections(ServiceSettings):
        out += [f"## `{sec.path}`" if sec.path else "## Top level", ""]
        if sec.doc:
            out += [sec.doc, ""]
        out += ["| key | type | default | constraints | description |", "| --- | --- | --- | --- | --- |"]
        out += [f"| `{k}` | {t} | {d} | {c} | {m} |" for k, t, d, c, m in sec.rows]
        out.append("")
    return "\n".join(out)
