"""(6) Sinks: Prometheus metrics, the retrain topic and the dead-letter topic."""

__all__: list[str] = []
