"""(6) Pipeline: runs validation -> windows -> detectors -> decisions for the models of a partition."""

__all__: list[str] = []
