"""The engine: data as tensors, networks, masks, and the loops that train them (one network, or many as a
stack). It knows nothing of experiments or of the run cache."""
