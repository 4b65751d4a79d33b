"""ltkit: the Lottery Ticket Hypothesis and the work around it, hands on.

The lessons live in notebooks/; this package holds every piece of logic they use, one concept per module:
data, models, masks, train, lottery, connectivity, runs (the cache), profiles, plots, widgets, cli.
"""

from ltkit.runtime import setup

__version__ = "0.1.0"
__all__ = ["setup"]
