"""What the hpcdask page and widgets show: a cluster's placements joined with its live workers.

A cluster that is :class:`~hpcdask.backends.base.Describable` says where its workers are
(hosts, jobs, allocations). Any other cluster is described from what it exposes: batch jobs
(a ``jobs`` mapping), else the workers it asked for (a SpecCluster's ``worker_spec``), else
nothing but the workers the scheduler sees. So every resource type gets a table.

Examples
--------
>>> from hpcdask.backends.base import Description, Placement
>>> seen = {"ws1-0": Seen("ws1", "running")}
>>> rows = join(Description("host", (Placement("ws1", "ok", workers=("ws1-0", "ws1-1")),)), seen)
>>> rows[0].workers, rows[0].expected, rows[0].nodes
(('ws1-0',), 2, 'ws1')
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hpcdask.backends.base import Describable, Description, Placement
from hpcdask.models import JobqueueResource, LocalResource, Resource, SSHResource

__all__ = ["Row", "Seen", "describe", "join", "pending", "requested", "where"]

#: Ended batch jobs kept in the table (the most recent), after the live ones.
ENDED_SHOWN = 5


@dataclass(frozen=True)
class Seen:
    """A worker as the scheduler sees it: its host and status (``running``, ``paused``…)."""

    host: str
    status: str


@dataclass(frozen=True)
class Row:
    """One line of the table: a placement and the workers connected there.

    ``workers`` are the connected workers' names; ``expected`` how many are meant to run there;
    ``estimated`` says that ``walltime_left`` is counted from when the row was first seen
    running (the cluster did not report it).
    """

    id: str
    state: str
    nodes: str
    walltime_left: float | None
    workers: tuple[str, ...]
    expected: int
    note: str = ""
    estimated: bool = False


def describe(cluster: object | None) -> Description:
    """Return what ``cluster`` says of its placements, or what can be read from it."""
    described = cluster.describe() if isinstance(cluster, Describable) else None
    if isinstance(described, Description):  # a ``describe`` of another kind is not ours
        return described
    spec = getattr(cluster, "worker_spec", None)
    spec = spec if isinstance(spec, Mapping) else {}
    jobs = getattr(cluster, "jobs", None)
    if isinstance(jobs, Mapping):
        return Description("job", _from_jobs(jobs, spec))
    return Description(
        "worker", tuple(Placement(str(n), "", workers=_names(n, s)) for n, s in spec.items())
    )


def _names(name: object, spec: object) -> tuple[str, ...]:
    """Return the worker names one spec entry starts: ``name``, or ``name+suffix`` per group."""
    group = spec.get("group") if isinstance(spec, Mapping) else None
    return tuple(f"{name}{suffix}" for suffix in group) if group else (str(name),)


def _from_jobs(jobs: Mapping[str, Any], spec: Mapping[Any, Any]) -> tuple[Placement, ...]:
    """Return the batch jobs (objects with job_id, state, nodes, reason, name) as placements."""
    live: list[Placement] = []
    ended: list[Placement] = []
    for job_id, info in jobs.items():
        state = getattr(info, "state", "unknown")
        name = str(getattr(info, "name", "") or "")
        placement = Placement(
            str(job_id),
            str(getattr(state, "value", state)),
            nodes=str(getattr(info, "nodes", "") or ""),
            workers=_names(name, spec.get(name)) if name else (),
            note=str(getattr(info, "reason", "") or ""),
        )
        (ended if getattr(state, "ended", False) else live).append(placement)
    return (*live, *ended[-ENDED_SHOWN:])


def _belongs(worker: str, names: Iterable[str]) -> bool:
    return any(worker == name or worker.startswith(f"{name}-") for name in names)


def join(description: Description, seen: Mapping[str, Seen]) -> tuple[Row, ...]:
    """Return the table: each placement with its connected workers, then any stray workers."""
    rows: list[Row] = []
    claimed: set[str] = set()
    for place in description.placements:
        mine = tuple(sorted(w for w in seen if w not in claimed and _belongs(w, place.workers)))
        claimed.update(mine)
        state = place.state
        if description.kind == "worker" or not state:
            state = seen[mine[0]].status if mine else "starting"
        nodes = place.nodes or ", ".join(sorted({seen[w].host for w in mine}))
        rows.append(
            Row(place.id, state, nodes, place.walltime_left, mine, len(place.workers), place.note)
        )
    for name in sorted(set(seen) - claimed):
        note = "" if description.kind == "worker" else "not started by this cluster"
        rows.append(Row(name, seen[name].status, seen[name].host, None, (name,), 0, note))
    return tuple(rows)


def requested(cluster: object | None, connected: int) -> int:
    """Return how many workers ``cluster`` asked for (``connected`` if it does not say)."""
    spec = getattr(cluster, "worker_spec", None)
    if not isinstance(spec, Mapping):
        return connected
    return sum(len(_names(name, each)) for name, each in spec.items())


def pending(description: Description) -> int:
    """Return how many placements wait in a queue."""
    return sum(1 for place in description.placements if place.state == "pending")


def where(resource: Resource) -> str:
    """Return where ``resource``'s workers run, in a few words.

    Examples
    --------
    >>> from hpcdask.models import SSHResource
    >>> where(SSHResource(name="lab", hosts=["ws1", "ws2", "ws2"]))
    'SSH hosts ws1, ws2; scheduler on this machine'
    """
    if isinstance(resource, LocalResource):
        return f"this machine ({socket.gethostname()})"
    if isinstance(resource, SSHResource):
        scheduler = "this machine" if resource.scheduler == "local" else resource.scheduler
        return f"SSH hosts {', '.join(resource.hosts)}; scheduler on {scheduler}"
    if isinstance(resource, JobqueueResource):
        parts = [f"{resource.type} batch jobs"]
        parts += [f"{key} {value}" for key, value in _batch_keys(resource) if value]
        return ", ".join(parts)
    return resource.type


def _batch_keys(resource: JobqueueResource) -> list[tuple[str, object]]:
    return [
        ("queue", resource.queue),
        ("account", resource.account),
        ("walltime", resource.walltime),
    ]
