"""A dask-jobqueue config (``jobqueue.yaml``) as hpcdask resources, with the proof.

Each section (``jobqueue.slurm``, ``jobqueue.pbs``, …) becomes one resource of that type:
dask-jobqueue's spellings are read as hpcdask's keys (:mod:`hpcdask.models.keys`), worker keys
go under ``worker:``, and unset values (``null``, ``[]``, ``{}``) are left out. Then the job
script of each resource is compared with the one dask-jobqueue's own job class writes for the
same section: they differ only where hpcdask adds something on purpose (:data:`ADDITIONS`).
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask.config
import yaml

from hpcdask.backends.jobqueue.args import dask_jobqueue
from hpcdask.backends.jobqueue.jobs import PREVIEW_ADDRESS, LogDirectoryLater, preview_script
from hpcdask.backends.jobqueue.system import batch_types, system_for
from hpcdask.config import ResolvedResource
from hpcdask.errors import ConfigError
from hpcdask.models import JobqueueResource
from hpcdask.models.keys import accepted, rename
from hpcdask.registry import KINDS
from hpcdask.resource import validate

__all__ = [
    "ADDITIONS",
    "Imported",
    "compare",
    "convert",
    "jobqueue_defaults",
    "jobqueue_script",
    "reference_table",
    "without_additions",
]

#: What hpcdask adds to a worker's command on purpose, by what it is for (see the README).
_WORD = r"[^\s'\"]+"  # one argument (HTCondor's Arguments quote the whole command)
ADDITIONS = {
    "--lifetime": re.compile(rf" --lifetime {_WORD} --lifetime-stagger {_WORD}"),
    "TLS": re.compile(
        rf" --protocol tls:// --tls-ca-file {_WORD} --tls-cert {_WORD} --tls-key {_WORD}"
    ),
}
#: Where a section's config lives while dask-jobqueue's job class reads it.
_SECTION = "hpcdask-import"


@dataclass
class Imported:
    """One section, as a resource: its keys, what was renamed, and why it was skipped."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str = ""


def jobqueue_defaults() -> dict[str, dict[str, Any]]:
    """Return dask-jobqueue's own defaults per section (its package's ``jobqueue.yaml``)."""
    path = Path(dask_jobqueue().__file__).parent / "jobqueue.yaml"
    defaults: dict[str, dict[str, Any]] = yaml.safe_load(path.read_text())["jobqueue"]
    return defaults


def _unset(value: Any) -> bool:
    return value is None or value == [] or value == {} or value == ""


def _section(kind: str, body: Mapping[str, Any], default: Mapping[str, Any]) -> Imported:
    if kind not in batch_types():
        return Imported(kind, skipped="no hpcdask type of that name")
    if all(body.get(key) == default.get(key) for key in {*body, *default}):
        return Imported(kind, skipped="dask-jobqueue's defaults: nothing set")
    given = {str(key): value for key, value in body.items() if not _unset(value)}
    if "name" not in given and default.get("name"):
        given["job-name"] = default["name"]  # hpcdask's own default is hpcdask-worker
    try:
        data, _, notes = rename(KINDS[kind].model, given, {})
    except ValueError as error:
        lines = [f"jobqueue.{kind}: {line}" for line in str(error).splitlines()]
        raise ConfigError(lines) from None
    data = {key.replace("_", "-"): value for key, value in data.items()}
    if isinstance(data.get("worker"), Mapping):
        data["worker"] = {k.replace("_", "-"): v for k, v in data["worker"].items()}
    return Imported(kind, {"type": kind, **data}, notes)


def convert(sections: Mapping[str, Any], origin: str) -> list[Imported]:
    """Return one :class:`Imported` per section of a ``jobqueue:`` mapping.

    Raises
    ------
    ConfigError
        One line per problem: a section that is not a mapping, a key dask-jobqueue does not
        have, a value hpcdask cannot read.
    """
    defaults, out, lines = jobqueue_defaults(), [], []
    for kind, body in sections.items():
        if not isinstance(body, Mapping):
            lines.append(f"{origin}: jobqueue.{kind}: expected a mapping of keys, got {body!r}")
            continue
        imported = _section(str(kind), body, defaults.get(str(kind), {}))
        if not imported.skipped:
            try:
                validate(ResolvedResource(imported.name, origin, dict(imported.data)))
            except ConfigError as error:
                lines += error.lines
        out.append(imported)
    if lines:
        raise ConfigError(lines)
    return out


def jobqueue_script(kind: str, section: Mapping[str, Any], name: str) -> str:
    """Return the job script dask-jobqueue's job class writes for ``section`` (job ``name``).

    The log directory is not created (see :class:`LogDirectoryLater`); dask-jobqueue's
    deprecation warnings are silenced.
    """
    defaults = jobqueue_defaults()[kind]
    config = {**defaults, **section}  # a null there is dask-jobqueue's null, as in dask config
    log_directory, config["log-directory"] = config.get("log-directory"), None
    job_cls = system_for(kind).upstream_job()
    preview: Any = type(f"Preview{job_cls.__name__}", (job_cls, LogDirectoryLater), {})
    with dask.config.set({f"jobqueue.{_SECTION}": config}), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        job = preview(PREVIEW_ADDRESS, name=name, config_name=_SECTION,
                      log_directory=log_directory)  # fmt: skip
        script: str = job.job_script()
    return script


def without_additions(script: str) -> tuple[str, list[str]]:
    """Return ``script`` without what hpcdask adds on purpose, and the names of what it had."""
    found = []
    for what, pattern in ADDITIONS.items():
        script, count = pattern.subn("", script)
        if count:
            found.append(what)
    return script, found


def compare(resource: JobqueueResource, kind: str, section: Mapping[str, Any]) -> tuple[str, str]:
    """Return (what hpcdask adds, a diff of the job scripts: empty when they are the same)."""
    ours, added = without_additions(preview_script(resource))
    theirs = jobqueue_script(kind, section, f"{resource.name}-0")
    diff = difflib.unified_diff(
        theirs.splitlines(), ours.splitlines(), "dask-jobqueue", "hpcdask", lineterm=""
    )
    return ", ".join(added), "\n".join(diff)


def reference_table() -> str:
    """Return the README's table of dask-jobqueue's keys per system, from the models.

    Every key of dask-jobqueue's config schema for a system is listed with the hpcdask key it
    is read as; a key of the schema that a model does not accept would be listed as refused
    (the test of the README fails on that too).
    """
    defaults, rows = jobqueue_defaults(), ["| system | dask-jobqueue keys (read as) |", "|---|---|"]
    for kind in sorted(batch_types()):  # a fixed order, whatever the registry's
        known = accepted(KINDS[kind].model)
        cells = []
        for key in defaults[kind]:
            target = known.get(key)
            shown = f"`{key}`" if target == key else f"`{key}` (`{target}`)"
            cells.append(shown if target else f"`{key}` (refused)")
        rows.append(f"| {kind} | {', '.join(cells)} |")
    return "\n".join(rows)
