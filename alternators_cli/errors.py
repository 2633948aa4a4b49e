"""Errors the command line turns into exit codes: bad input -> 2, other failures -> 1."""


class BadInput(Exception):
    """The user gave something we cannot use (a value, a file, a combination). Exit 2."""


class RunFailure(Exception):
    """A well-formed request that failed while running (e.g. a diverging loss). Exit 1."""
