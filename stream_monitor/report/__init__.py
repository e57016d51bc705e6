"""Reports with plots, rendered server-side: SVG charts (:mod:`.svg`), the comparison
report of :func:`stream_monitor.compare` (:mod:`.comparison`), and the status page's
view and history of the worker's models (:mod:`.status_view`, :mod:`.history`).

No JavaScript and no external resource: pages work offline.
"""

__all__: list[str] = []
