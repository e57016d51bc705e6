"""(8) App: faust wiring only (worker, runtime, snapshot table, web server, status page)."""

__all__: list[str] = []
