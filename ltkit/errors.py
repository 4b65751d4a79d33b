"""The one exception ltkit raises for mistakes a user can fix.

Every message names the problem and the fix, so a notebook or the command line can show it as one line
instead of a traceback.
"""


class LtkitError(ValueError):
    """A bad argument, a missing dataset or a damaged cache: the message says what to do."""
