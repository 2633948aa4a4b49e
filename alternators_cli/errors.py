"""Errors the command line turns into exit codes: bad input -> 2, other failures -> 1."""


class BadInput(Exception):
    """The user gave something we cannot use (a value, a file, a combination). Exit 2."""


class RunFailure(Exception):
    """A well-formed request that failed while running (e.g. a diverging loss). Exit 1."""


class Interrupted(KeyboardInterrupt):
    """A signal (SIGINT, SIGTERM, SIGHUP) stopped the command: exit 128 + its number.

    A KeyboardInterrupt, so that every cleanup written for Ctrl-C runs for the others too."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = int(signum)
