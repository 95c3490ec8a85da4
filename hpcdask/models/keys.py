"""dask-jobqueue's spellings of hpcdask's keys, read as dask-jobqueue reads them.

A pasted ``jobqueue.yaml`` section may use keys hpcdask spells differently: dask-jobqueue's
deprecated keys (``job-extra``, ``env-extra``, ``extra``, ``header-skip``, ``project`` for Slurm
and PBS), its own names (``name`` for the job name, ``project`` for SGE, LSF and OAR), and the
worker keys it keeps at the top level (``cores: 8``, hpcdask's ``worker.cores``). :func:`rename`
moves them to hpcdask's keys, with the file that set each value, and says what it renamed.

Examples
--------
>>> from hpcdask.models import SlurmResource
>>> data, sources, notes = rename(SlurmResource, {"job-extra": ["-C a100"], "cores": 4}, {})
>>> data
{'job_extra_directives': ['-C a100'], 'worker': {'cores': 4}}
>>> notes[0]
'job-extra: read as job-extra-directives (dask-jobqueue deprecated job-extra)'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpcdask.models.common import Resource

__all__ = ["COMMON", "PROJECT", "PROJECT_DEPRECATED", "WORKER_KEYS", "Alias", "accepted", "rename"]

#: dask-jobqueue keys that describe the workers; they may stand at the top level.
WORKER_KEYS = ("cores", "memory", "processes", "nthreads", "python", "local_directory")


@dataclass(frozen=True)
class Alias:
    """dask-jobqueue's key ``old``, read as hpcdask's ``new`` (both with underscores).

    ``deprecated``: dask-jobqueue's old spelling, used only when the new key is unset or
    empty (as dask-jobqueue does); otherwise the same key, and giving both is an error.
    """

    old: str
    new: str
    deprecated: bool = True

    def note(self, used: bool = True) -> str:
        """Return the one line that says what became of the old key."""
        old, new = self.old.replace("_", "-"), self.new.replace("_", "-")
        if not self.deprecated:
            return f"{old}: read as {new} (dask-jobqueue's name for it)"
        if not used:
            return f"{old}: ignored, as dask-jobqueue does, since {new} is set " \
                   f"(dask-jobqueue deprecated {old})"  # fmt: skip
        return f"{old}: read as {new} (dask-jobqueue deprecated {old})"


#: What every batch type reads as dask-jobqueue does (each model names its own, see
#: ``Resource.aliases``).
COMMON = (
    Alias("name", "job_name", deprecated=False),
    Alias("extra", "worker_extra_args"),
    Alias("job_extra", "job_extra_directives"),
    Alias("env_extra", "job_script_prologue"),
    Alias("header_skip", "job_directives_skip"),
)
#: Slurm and PBS: dask-jobqueue renamed ``project`` to ``account`` (``-A``).
PROJECT_DEPRECATED = Alias("project", "account")
#: SGE, LSF and OAR: ``project`` is dask-jobqueue's key (``-P``, ``--project``).
PROJECT = Alias("project", "account", deprecated=False)


def _norm(key: object) -> str:
    return str(key).replace("-", "_")


def _find(data: Mapping[str, Any], name: str) -> str | None:
    return next((key for key in data if _norm(key) == name), None)


def _move_source(sources: dict[str, str], old: str, new: str) -> None:
    for key in [k for k in sources if k == old or k.startswith(old + ".")]:
        sources[new + key[len(old) :]] = sources.pop(key)


def _apply(alias: Alias, data: dict[str, Any], sources: dict[str, str]) -> tuple[str, str]:
    """Move ``alias.old`` to ``alias.new``; return (note, error): one of them is empty."""
    old = _find(data, alias.old)
    assert old is not None
    value = data.pop(old)
    new = _find(data, alias.new)
    if new is not None and not alias.deprecated:
        shown = alias.new.replace("_", "-")
        return "", f"{old}: the same key as {shown} (dask-jobqueue's name for it); give one"
    if new is not None and data[new] not in (None, [], (), {}, ""):
        _forget(sources, alias.old)
        return alias.note(used=False), ""
    if new is not None:
        del data[new]
    data[alias.new] = value
    _forget(sources, alias.new)
    _move_source(sources, alias.old, alias.new)
    return alias.note(), ""


def _forget(sources: dict[str, str], path: str) -> None:
    for key in [k for k in sources if k == path or k.startswith(path + ".")]:
        del sources[key]


def _worker_keys(data: dict[str, Any], sources: dict[str, str]) -> list[str]:
    """Move top-level worker keys into ``worker:``; return the keys given in both places."""
    worker = data.get("worker")
    if worker is None:
        worker = {}
    if not isinstance(worker, Mapping):
        return []
    worker = dict(worker)
    both = []
    for key in [k for k in data if _norm(k) in WORKER_KEYS]:
        norm = _norm(key)
        if _find(worker, norm) is not None:
            both.append(f"{key}: given both at the top level and in worker:")
            continue
        worker[norm] = data.pop(key)
        _move_source(sources, norm, f"worker.{norm}")
    if worker:
        data["worker"] = worker
    return both


def rename(
    model: type[Resource] | None, data: Mapping[str, Any], sources: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """Return ``data`` and ``sources`` with dask-jobqueue's spellings moved to hpcdask's keys,
    and one note per key renamed.

    Raises
    ------
    ValueError
        One line per key given both ways (``project`` and ``account`` for SGE, say).
    """
    out, where, notes, errors = dict(data), dict(sources), [], []
    if model is not None and model.worker_keys_on_top:
        for alias in model.aliases:
            if _find(out, alias.old) is not None:
                note, error = _apply(alias, out, where)
                notes += [note] if note else []
                errors += [error] if error else []
        errors += _worker_keys(out, where)
    if errors:
        raise ValueError("\n".join(errors))
    return out, where, notes


def accepted(model: type[Resource]) -> dict[str, str]:
    """Return the keys the resource ``model`` accepts, as dask-jobqueue spells them, each
    mapped to hpcdask's key for it.

    Examples
    --------
    >>> from hpcdask.models import SGEResource
    >>> accepted(SGEResource)["project"], accepted(SGEResource)["cores"]
    ('account', 'worker.cores')
    """
    keys = {name.replace("_", "-"): name.replace("_", "-") for name in model.model_fields}
    keys.update({key.replace("_", "-"): f"worker.{key}".replace("_", "-") for key in WORKER_KEYS})
    for alias in model.aliases:
        keys[alias.old.replace("_", "-")] = alias.new.replace("_", "-")
    return keys
