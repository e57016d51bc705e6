"""The CLI's commands: their options and the functions that run them (``cli.py`` parses and dispatches)."""

__all__: list[str] = []
