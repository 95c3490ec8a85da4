"""Tables and messages for the terminal (rich), kept apart from what the commands compute.

It loads rich, dask and the models: the commands import it when they run, not at start-up.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from dask.utils import format_bytes
from rich.console import Console
from rich.table import Table

from hpcdask._model import display_key
from hpcdask.errors import ConfigError
from hpcdask.resource import validate

if TYPE_CHECKING:
    from hpcdask.backends import Check
    from hpcdask.config import Catalog, ResolvedResource
    from hpcdask.models import Resource

__all__ = [
    "allocation_rows",
    "config_rows",
    "console",
    "print_allocations",
    "print_checks",
    "print_config",
    "print_job_script",
    "print_resources",
    "print_status",
    "resource_rows",
]

_SIZE_KEYS = frozenset({"memory", "job_mem", "mem", "disk"})


def console(stderr: bool = False) -> Console:
    """Return a rich console; messages that are not results go to stderr."""
    return Console(stderr=stderr, highlight=False)


def resource_rows(catalog: Catalog) -> list[dict[str, Any]]:
    """Return one row per resource: name, type, origin, description, default, problem."""
    rows = []
    for name in catalog.names():
        definition = catalog.definition(name)
        row: dict[str, Any] = {
            "name": name,
            "type": None,
            "origin": definition.origin,
            "description": "",
            "default": name == catalog.default,
            "problem": None,
        }
        try:
            resource = validate(catalog.resolve(name))
            row.update(type=resource.type, description=resource.description)
        except ConfigError as error:
            row.update(type=str(definition.data.get("type", "?")), problem=error.lines[0])
        rows.append(row)
    return rows


def print_resources(rows: Iterable[Mapping[str, Any]]) -> None:
    """Print the table of ``hpcdask resources``."""
    table = Table("name", "type", "defined in", "description", box=None, pad_edge=False)
    problems = []
    for row in rows:
        name = row["name"] + (" (default)" if row["default"] else "")
        note = row["description"]
        if row["problem"]:
            note = "[red]invalid: see below[/red]"
            problems.append(row["problem"])
        table.add_row(name, row["type"], row["origin"], note)
    out = console()
    out.print(table)
    for problem in problems:
        out.print(f"[red]{problem}[/red]", soft_wrap=True)


def _flatten(value: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _shown(path: str, value: Any) -> str:
    if value is None and path.startswith("dask."):
        return "null"  # a Dask setting of its own, not "unset"
    if value is None or value == () or value == {}:
        return "-"
    if path.rpartition(".")[2] in _SIZE_KEYS and isinstance(value, int):
        return format_bytes(value)
    if isinstance(value, (list, tuple)):
        return "; ".join(str(item) for item in value)
    return str(value)


def config_rows(resource: Resource, resolved: ResolvedResource) -> list[dict[str, str]]:
    """Return ``key``, ``value`` and ``source`` for every key of ``resource``, defaults too."""
    data = resource.model_dump(exclude={"name", "origin"})
    rows = []
    for path, value in _flatten(data):
        known = path in resolved.sources or any(k.startswith(path + ".") for k in resolved.sources)
        source = resolved.source_of(path) if known else "default"
        shown_path = ".".join(display_key(part) for part in path.split("."))
        rows.append({"key": shown_path, "value": _shown(path, value), "source": source})
    return rows


def print_config(resource: Resource, rows: Iterable[Mapping[str, str]]) -> None:
    """Print the table of ``hpcdask show``."""
    out = console()
    out.print(f"[bold]{resource.name}[/bold] ({resource.type}, defined in {resource.origin})")
    table = Table("key", "value", "from", box=None, pad_edge=False)
    for row in rows:
        style = "dim" if row["source"] == "default" else None
        table.add_row(row["key"], row["value"], row["source"], style=style)
    out.print(table)


def print_job_script(script: str | None, problem: str | None) -> None:
    """Print a batch resource's job script under ``hpcdask show`` (nothing for other types)."""
    out = console()
    if script is not None:
        out.print("\njob script (one job; the scheduler address is known once it runs):")
        out.print(script, markup=False, highlight=False, soft_wrap=True, end="")
    elif problem is not None:
        out.print(f"\njob script: cannot be written: {problem}", markup=False, soft_wrap=True)


_MARKS = {
    "ok": "[green]ok[/green]",
    "warning": "[yellow]warning[/yellow]",
    "failed": "[red]FAILED[/red]",
}


def print_checks(resource: Resource, checks: Iterable[Check]) -> None:
    """Print the table of ``hpcdask check``."""
    out = console()
    out.print(f"[bold]{resource.name}[/bold] ({resource.type})")
    table = Table("check", "result", "detail", box=None, pad_edge=False)
    for check in checks:
        table.add_row(check.name, _MARKS[check.status.value], check.detail)
    out.print(table)


def _uptime(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def print_status(reports: Iterable[Mapping[str, Any]], now: float) -> None:
    """Print the table of ``hpcdask status``."""
    table = Table(
        "name",
        "type",
        "state",
        "workers",
        "threads",
        "memory",
        "dashboard",
        "uptime",
        box=None,
        pad_edge=False,
    )
    problems = []
    for r in reports:
        if r.get("state") != "running":
            table.add_row(r.get("name", "?"), r.get("type", "?"), f"[red]{r['state']}[/red]")
            problems.append(r.get("problem", ""))
            continue
        scaling = f" (adapt {r['adaptive'][0]}-{r['adaptive'][1]})" if r["adaptive"] else ""
        workers = f"{r['workers']}/{r['requested']}{scaling}"
        table.add_row(
            r["name"],
            r["type"],
            "running",
            workers,
            str(r["threads"]),
            format_bytes(r["memory"]),
            r["dashboard"],
            _uptime(now - r["started"]),
        )
    out = console()
    out.print(table, soft_wrap=True)
    for problem in filter(None, problems):
        out.print(problem, soft_wrap=True)
    for r in reports:
        if r.get("state") == "running":
            for line in job_lines(r):
                out.print(line, soft_wrap=True, highlight=False)
        if r.get("state") == "running" and r.get("allocations") is not None:
            print_allocations(r["name"], r["allocations"])


def job_lines(report: Mapping[str, Any]) -> list[str]:
    """Return what ``hpcdask status`` says of a cluster's batch jobs: how many in each state,
    why each pending one waits, and whether the batch system answers.

    Examples
    --------
    >>> job_lines({"name": "c", "job_counts": {"running": 2, "pending": 1},
    ...            "pending": {"7": "Priority"}, "not_answering": None})
    ['c: batch jobs: 2 running, 1 pending', '  job 7 pending: Priority']
    """
    name, lines = report["name"], []
    counts = report.get("job_counts") or {}
    if counts:
        lines.append(f"{name}: batch jobs: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    for job, reason in (report.get("pending") or {}).items():
        lines.append(f"  job {job} pending: {reason or 'no reason given'}")
    silent = report.get("not_answering")
    if silent:
        since = time.strftime("%H:%M:%S", time.localtime(float(silent["since"])))
        lines.append(f"{name}: the batch system has not answered since {since} "
                     f"({silent['tries']} tries; last: {silent['error']})")  # fmt: skip
    return lines


def allocation_rows(allocations: Iterable[Mapping[str, Any]]) -> list[list[str]]:
    """Return the cells of ``hpcdask status``'s allocation table: job id, state, nodes,
    walltime left, workers per node.

    Examples
    --------
    >>> allocation_rows([{"id": "7", "state": "running", "nodes": ["n1", "n2"], "size": 2,
    ...                   "walltime_left": 3725, "workers": {"n1": 2, "n2": 1}}])
    [['7', 'running', 'n1,n2', '1h02m', 'n1: 2, n2: 1']]
    >>> allocation_rows([{"id": "8", "state": "pending", "nodes": [], "size": 4,
    ...                   "walltime_left": None, "workers": {}}])
    [['8', 'pending', '(4 requested)', '-', '-']]
    """
    rows = []
    for a in allocations:
        nodes = ",".join(a["nodes"]) or f"({a['size']} requested)"
        left = a.get("walltime_left")
        workers = ", ".join(f"{node}: {count}" for node, count in a["workers"].items())
        shown = "-" if left is None else _uptime(left)
        rows.append([str(a["id"]), str(a["state"]), nodes, shown, workers or "-"])
    return rows


def print_allocations(name: str, allocations: Iterable[Mapping[str, Any]]) -> None:
    """Print the allocations a pilot cluster holds, under ``hpcdask status``."""
    rows = allocation_rows(allocations)
    out = console()
    if not rows:
        out.print(f"\n{name}: no allocation held", soft_wrap=True)
        return
    table = Table(
        "job", "state", "nodes", "walltime left", "workers per node", box=None, pad_edge=False
    )
    for row in rows:
        table.add_row(*row)
    out.print(f"\n{name} allocations:", soft_wrap=True)
    out.print(table, soft_wrap=True)
