"""A mypy plugin that enforces the frozen view boundary (used by ``test_view_boundary.py``).

Outside ``stream_monitor.pipeline``, code may call the methods of the pipeline's
live objects (``Monitor.observe``, ``Monitor.view``, ...) and read frozen values
(frozen dataclasses and named tuples such as ``Outcome`` and the ``MonitorView``
family), but never read or write a field of a live, mutable pipeline object
(``Monitor.positions``, ``ModelMonitor.versions``, ``VersionState.window``, ...).
The rule is decided on types, so a view that mirrors a name (``view.models``) is
allowed while ``monitor.models`` is not, whatever the variables are called.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.nodes import TypeInfo
from mypy.plugin import AttributeContext, Plugin
from mypy.types import Instance, Type, get_proper_type

PIPELINE = "stream_monitor.pipeline"
CODE_NOTE = "internals of the pipeline are read through Monitor.view()"


def _frozen(info: TypeInfo) -> bool:
    if info.is_named_tuple or (info.tuple_type is not None):
        return True
    meta = info.metadata.get("dataclass")
    return bool(meta and meta.get("frozen"))


def _inside(module: str) -> bool:
    return module == PIPELINE or module.startswith(PIPELINE + ".")


def _check(ctx: AttributeContext) -> Type:
    typ = get_proper_type(ctx.type)
    tree = getattr(ctx.api, "tree", None)
    module = tree.fullname if tree is not None else ""
    if isinstance(typ, Instance) and not _inside(module):
        info = typ.type
        if _inside(info.module_name) and not _frozen(info):
            name = getattr(ctx.context, "name", "?")
            ctx.api.fail(f"view boundary: {info.name}.{name} of a live pipeline object; {CODE_NOTE}", ctx.context)
    return ctx.default_attr_type


class ViewBoundary(Plugin):
    def get_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        return _check if _inside(fullname) else None


def plugin(version: str) -> type[Plugin]:
    return ViewBoundary
