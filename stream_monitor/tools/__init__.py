"""Library code behind the command line's tools: traffic generators for tests and benchmarks."""

__all__: list[str] = []
