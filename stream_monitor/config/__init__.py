"""Configuration: the settings groups and sources behind ``settings.py``, and loading what the settings point at."""

__all__: list[str] = []
