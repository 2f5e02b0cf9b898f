"""Errors that mean "the user's input is wrong": entry points print them as one line and exit 2."""


class SgnsError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""


class ConfigError(SgnsError, ValueError):
    """A configuration value is out of range, of the wrong type, or unknown."""


class DataError(SgnsError):
    """A corpus, cache, download or vectors file cannot be used."""


def first_line(err: BaseException) -> str:
    """The first line of `err`'s message, or its type's name when it has none: what a one-line
    report or failed.json says of an error whose message may run to several lines."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
