"""The one exception type the CLI turns into a one-line message and exit code 2."""


class UserError(Exception):
    """A problem with the user's input or files, stated with the fix.

    The message should name the file (or flag) and say what to do about it; the
    CLI prints it on one line, without a traceback, and exits with code 2.
    """
