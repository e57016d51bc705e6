"""(2) Specs: what to monitor (ModelSpec, LabelsSpec and their parts); every core layer may import them."""

__all__: list[str] = []
