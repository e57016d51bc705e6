"""stream-monitor: Kafka-native monitoring for machine-learning models in production.

Nothing runs at import. The pure core (events, validation, windows, detectors,
decisions, monitor) is importable without faust, aiokafka or prometheus_client.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
