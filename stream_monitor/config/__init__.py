"""Configuration edge: loading what the settings point at (reference files and profiles)."""

__all__: list[str] = []
