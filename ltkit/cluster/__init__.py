"""Past one machine: a sweep cut into units (units), run here or as jobs of an engine (executors)."""
