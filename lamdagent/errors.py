"""The one exception type users see: a single line naming the thing at fault and the fix."""


class LamdagentError(Exception):
    """A user-facing error; the CLI prints its message alone, without a traceback."""
