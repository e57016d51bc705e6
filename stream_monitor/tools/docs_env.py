"""docs/configuration-env.md's table of environment variables, generated from the settings model.

The page's prose is written by hand; the table between its two markers is generated
(``python -m stream_monitor.tools.docs_gen env``, checked with the other generated pages).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

__all__ = ["BEGIN", "END", "documented", "env_page", "rows", "table"]

BEGIN = "<!-- settings-reference:begin (generated: python -m stream_monitor.tools.docs_gen env) -->"
END = "<!-- settings-reference:end -->"


def _models_in(annotation: Any) -> tuple[type[BaseModel] | None, bool, bool]:
    """(the model a field holds, whether in a list, whether in a mapping)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _models_in(args[0])
    if origin in (typing.Union, types.UnionType):
        for a in args:
            found = _models_in(a)
            if found[0] is not None:
                return found
        return None, False, False
    if origin in (list, tuple) and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return args[0], True, False
    if origin is dict and len(args) == 2 and isinstance(args[1], type) and issubclass(args[1], BaseModel):
        return args[1], False, True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False, False
    return None, False, False


def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " / ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(_type_name(a) for a in args)}]"
    return "none" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def rows(model: type[BaseModel], prefix: str = "STREAM_MONITOR_", depth: int = 0) -> Iterator[tuple[str, str]]:
    """(environment variable, type) for every leaf setting; list items as ``<N>``, mapping keys as ``<KEY>``."""
    for name, field in model.model_fields.items():
        var = prefix + name.upper()
        inner, in_list, in_map = _models_in(field.annotation)
        if inner is not None and depth < 6:
            if in_list:
                yield var, f"JSON list of {inner.__name__} (or per item below)"
                yield from rows(inner, var + "__<N>__", depth + 1)
            elif in_map:
                yield var, f"JSON object of {inner.__name__} (or per key below)"
                yield from rows(inner, var + "__<KEY>__", depth + 1)
            else:
                yield from rows(inner, var + "__", depth + 1)
        else:
            yield var, _type_name(field.annotation)


def table() -> str:
    from stream_monitor.settings import ServiceSettings

    lines = ["| variable | type |", "| --- | --- |"]
    lines += [f"| `{v}` | `{t.replace('|', '/')}` |" for v, t in rows(ServiceSettings)]
    return "\n".join(lines) + "\n"


def documented(text: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip() + "\n"


def env_page(current: str) -> str:
    """``current`` (the page as it is) with its generated table replaced by the code's."""
    start, end = current.index(BEGIN) + len(BEGIN), current.index(END)
    return current[:start] + "\n" + table() + current[end:]
