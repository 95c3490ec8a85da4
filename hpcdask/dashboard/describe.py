"""What the hpcdask page and widgets show: a cluster's placements joined with its live workers.

Every hpcdask cluster reports where its workers are (:class:`~hpcdask.backends.base.Reporting`:
hosts, jobs, allocations, or the workers it asked for). A cluster built elsewhere is described
from the workers its spec asks for, if it is a ``SpecCluster``, else from nothing but the
workers the scheduler sees. So every cluster gets a table.

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

from distributed.deploy.cluster import Cluster
from distributed.deploy.spec import SpecCluster

from hpcdask.backends.base import Description, Reporting, Reports
from hpcdask.models import JobqueueResource, LocalResource, Resource, SSHResource

__all__ = ["Row", "Seen", "describe", "join", "pending", "report_of", "requested", "where"]


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


def report_of(cluster: object | None) -> Reporting:
    """Return what ``cluster`` reports: every hpcdask cluster reports itself; a cluster built
    elsewhere (a plain distributed one, an attached view) gets the defaults, from its spec.

    Examples
    --------
    >>> report_of(None).describe(), report_of(None).adaptive_bounds()
    (Description(kind='worker', placements=()), None)
    """
    return cluster if isinstance(cluster, Reporting) else _Foreign(cluster)


class _Foreign(Reports):
    """A cluster not built by hpcdask, reported from its spec (``spec``: None without one)."""

    def __init__(self, cluster: object) -> None:
        self.spec = cluster.worker_spec if isinstance(cluster, SpecCluster) else None
        self.worker_spec: Mapping[Any, Any] = self.spec or {}
        self._adaptive = cluster._adaptive if isinstance(cluster, Cluster) else None


def describe(cluster: object | None) -> Description:
    """Return what ``cluster`` says of its placements (see :func:`report_of`)."""
    return report_of(cluster).describe()


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
    report = report_of(cluster)
    if isinstance(report, _Foreign) and report.spec is None:
        return connected
    return report.workers_requested()


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
