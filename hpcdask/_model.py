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

__all__ = [
    "KNOWN_ALIASES",
    "Model",
    "Size",
    "UnknownKey",
    "Walltime",
    "display_key",
    "parse_size",
    "parse_walltime",
    "suggest",
    "walltime_seconds",
]

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
                # Kept, so that pydantic reports every unknown key with the other errors.
                known = [display_key(f) for f in cls.model_fields if f not in _INTERNAL]
                out[str(key)] = UnknownKey(suggest(name, known))
                continue
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


class UnknownKey:
    """Stands for the value of an unknown key: pydantic reports it as an extra key, and the
    message carries ``hint`` (`` (did you mean 'x'?)`` or nothing)."""

    def __init__(self, hint: str) -> None:
        self.hint = hint

    def __repr__(self) -> str:
        return f"UnknownKey({self.hint!r})"


#: Keys people write for another key, by what they mean, before any edit distance: the key
#: of another batch system, of dask-jobqueue or of the batch system's own options.
KNOWN_ALIASES: dict[str, tuple[str, ...]] = {
    "job_extra": ("job-extra-directives",),
    "extra_directives": ("job-extra-directives",),
    "directives": ("job-extra-directives",),
    "env_extra": ("job-script-prologue",),
    "prologue": ("job-script-prologue",),
    "header_skip": ("job-directives-skip",),
    "extra": ("worker-extra-args",),
    "extra_args": ("worker-extra-args",),
    "partition": ("queue",),
    "time": ("walltime",),
    "time_limit": ("walltime",),
    "project": ("account",),
    "name": ("job-name",),
    "mem": ("job-mem", "memory"),
    "job_mem": ("mem", "memory"),
    "ncpus": ("job-cpu", "cores"),
    "job_cpu": ("ncpus", "cores"),
    "nprocs": ("processes",),
    "n_workers": ("processes",),
    "nworkers": ("processes",),
    "threads": ("nthreads",),
    "memory_limit": ("memory",),
    "gpu": ("gpus",),
    "ngpus": ("gpus",),
    "log_dir": ("log-directory",),
    "local_dir": ("local-directory",),
    "resources_spec": ("resource-spec",),
}


def suggest(key: str, known: list[str]) -> str:
    """Return `` (did you mean 'x'?)`` for an unknown ``key``: what it is a known alias of,
    if that is a key here, else the nearest of ``known``.

    Examples
    --------
    >>> suggest("job_extra", ["job-mem", "job-extra-directives"])
    " (did you mean 'job-extra-directives'?)"
    """
    for target in KNOWN_ALIASES.get(key.replace("-", "_"), ()):
        if target in known:
            return f" (did you mean '{target}'?)"
    return did_you_mean(display_key(key), known)


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


def parse_walltime(value: Any) -> str:
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
    """Return the seconds in a normalised walltime (or in whole seconds, ``"3600"``).

    Examples
    --------
    >>> walltime_seconds("01:30:00"), walltime_seconds("3600")
    (5400, 3600)
    """
    if walltime.isdigit():
        return int(walltime)
    hours, minutes, seconds = (int(part) for part in walltime.split(":"))
    return (hours * 60 + minutes) * 60 + seconds


Size = Annotated[int, BeforeValidator(parse_size)]
Walltime = Annotated[str, BeforeValidator(parse_walltime)]
