"""The exceptions hpcdask raises for its users' mistakes and its environment's failures.

One shallow hierarchy: everything a user can fix derives from :class:`HpcdaskError`,
and the CLI prints those as one line (exit code 2) instead of a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "ConfigError",
    "HpcdaskError",
    "UnknownResourceError",
    "UnsupportedTypeError",
    "did_you_mean",
]


class HpcdaskError(Exception):
    """Base class of every error hpcdask reports to its users."""


class ConfigError(HpcdaskError):
    """A resource config cannot be read or is invalid.

    ``str(error)`` holds one line per problem, each naming the file, the resource and the key.
    """

    def __init__(self, lines: str | Iterable[str]) -> None:
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("\n".join(self.lines))


class UnknownResourceError(ConfigError):
    """No config defines a resource of the requested name."""


class UnsupportedTypeError(HpcdaskError):
    """The resource is valid, but this version of hpcdask cannot start its type."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string.

    Examples
    --------
    >>> did_you_mean("waltime", ["walltime", "queue"])
    " (did you mean 'walltime'?)"
    """
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
