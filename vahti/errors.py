"""Errors the CLI reports as one clear line with exit code 2."""


class VahtiError(Exception):
    """A problem the user can act on; its message never holds protected data."""

    exit_code = 2
