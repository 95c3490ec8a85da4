"""The building blocks of resource models: a strict frozen base and value types.

Every model accepts hyphenated or underscored keys, refuses unknown keys with a suggestion, and
refuses password-like keys outright.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from hpcdask.errors import did_you_mean

__all__ = ["Model", "Size", "Walltime", "display_key", "parse_size", "walltime_seconds"]

_SECRET = re.compile(r"(^|_)(password|passwd|passphrase|secret)$")


def display_key(key: str) -> str:
    """Return how messages spell a model key: with hyphens, as dask-jobqueue documents them."""
    return key.replace("_", "-") if key.islower() else key


class Model(BaseModel):
    """Base of all config models: frozen, strict about keys, hyphens or underscores."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _normalise_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = cls._prepare(data)
        out: dict[str, Any] = {}
        given: dict[str, str] = {}
        for key, value in data.items():
            name = str(key).replace("-", "_")
            if _SECRET.search(name.lower()):
                raise PydanticCustomError(
                    "secret_key",
                    "passwords and secrets are not accepted in config files: use SSH keys "
                    "(identity: ~/.ssh/id_ed25519) or an SSH agent",
                    {"key": str(key)},
                )
            if name not in cls.model_fields:
                known = [display_key(f) for f in cls.model_fields if f not in _INTERNAL]
                raise PydanticCustomError(
                    "unknown_key",
                    "unknown key{hint}",
                    {"key": str(key), "hint": did_you_mean(display_key(name), known)},
                )
            if name in given:
                raise PydanticCustomError(
                    "repeated_key",
                    "given twice, as '{first}' and '{key}'",
                    {"key": str(key), "first": given[name]},
                )
            given[name] = str(key)
            out[name] = value
        return out

    @classmethod
    def _prepare(cls, data: Mapping[str, Any]) -> Mapping[str, Any]:
        """Rearrange raw keys before they are checked; a hook for subclasses."""
        return data


#: Fields set by hpcdask itself, never shown as suggestions.
_INTERNAL = frozenset({"name", "origin"})


def parse_size(value: Any) -> int:
    """Return a memory or disk size in bytes (``8GB``, ``512 MiB``, or a number of bytes).

    Examples
    --------
    >>> parse_size("1.5 kB")
    1500
    """
    from dask.utils import parse_bytes

    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise PydanticCustomError(
            "size", "expected a size such as 8GB or 512MiB, got {value}", {"value": repr(value)}
        )
    try:
        size = int(parse_bytes(value))
    except (ValueError, TypeError):
        raise PydanticCustomError(
            "size",
            "{value} is not a size (for example 8GB, 512MiB or 1.5TB)",
            {"value": repr(value)},
        ) from None
    if size <= 0:
        raise PydanticCustomError(
            "size", "must be more than zero, got {value}", {"value": repr(value)}
        )
    return size


_WALLTIME = re.compile(r"^(?:(\d+)-)?(\d+):(\d{2})(?::(\d{2}))?$")


def _parse_walltime(value: Any) -> str:
    """Normalise a walltime to ``H:MM:SS``.

    Accepts ``HH:MM:SS``, ``D-HH:MM:SS``, ``HH:MM`` and whole seconds (YAML reads an unquoted
    ``1:00:00`` as the number 3600).
    """
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        seconds = value
    else:
        match = _WALLTIME.match(value) if isinstance(value, str) else None
        if not match or int(match[3]) > 59 or int(match[4] or 0) > 59:
            raise PydanticCustomError(
                "walltime",
                "{value} is not a walltime (HH:MM:SS, D-HH:MM:SS or HH:MM)",
                {"value": repr(value)},
            )
        days, hours, minutes, secs = (int(g or 0) for g in match.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
        if seconds == 0:
            raise PydanticCustomError(
                "walltime", "must be more than zero, got {value}", {"value": repr(value)}
            )
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def walltime_seconds(walltime: str) -> int:
    """Return the seconds in a normalised walltime.

    Examples
    --------
    >>> walltime_seconds("01:30:00")
    5400
    """
    hours, minutes, seconds = (int(part) for part in walltime.split(":"))
    return (hours * 60 + minutes) * 60 + seconds


Size = Annotated[int, BeforeValidator(parse_size)]
Walltime = Annotated[str, BeforeValidator(_parse_walltime)]
