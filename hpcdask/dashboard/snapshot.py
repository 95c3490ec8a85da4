"""A cluster's state at one moment, as the page and the widgets show it, and how to fetch it.

The scheduler process (where the cluster object lives, whether ``connect()`` started it or
an ``hpcdask up`` controller owns it) takes snapshots; clients ask for one through the
scheduler's ``hpcdask_snapshot`` handler, over the comm they already have.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from hpcdask._model import walltime_seconds
from hpcdask.dashboard.describe import Row, Seen, join, pending, report_of, requested, where

if TYPE_CHECKING:
    from distributed.deploy.cluster import Cluster

    from hpcdask.models import Resource

__all__ = [
    "HANDLER",
    "HISTORY",
    "INTERVAL",
    "PAGE",
    "Heading",
    "Snapshot",
    "ask",
    "fetch",
    "from_cluster",
    "page_link",
    "take",
]

#: The page's path on the scheduler's dashboard.
PAGE = "hpcdask"
#: The scheduler handler that answers with a snapshot.
HANDLER = "hpcdask_snapshot"
#: Seconds between the plugin's samples (and between page updates).
INTERVAL = 1.0
#: Samples kept: an hour at one a second.
HISTORY = 3600


@dataclass(frozen=True)
class Heading:
    """What does not change while a cluster runs: its resource's name, type and place."""

    name: str
    type: str
    where: str
    walltime: float | None = None

    @classmethod
    def of(cls, resource: Resource) -> Heading:
        """Return the heading of ``resource``."""
        walltime = getattr(resource, "walltime", None)
        seconds = walltime_seconds(walltime) if isinstance(walltime, str) else None
        return cls(resource.name, resource.type, where(resource), seconds)


@dataclass(frozen=True)
class Snapshot:
    """A cluster at one moment: its heading, worker counts, scaling bounds and table rows."""

    heading: Heading
    kind: str
    time: float
    requested: int
    connected: int
    pending: int
    adaptive: tuple[int, int | None] | None = None
    rows: tuple[Row, ...] = field(default_factory=tuple)

    def to_msg(self) -> dict[str, Any]:
        """Return the snapshot as plain data, to send over a comm."""
        return dataclasses.asdict(self)

    @classmethod
    def from_msg(cls, msg: Mapping[str, Any]) -> Snapshot:
        """Return the snapshot that :meth:`to_msg` turned into ``msg``."""
        rows = tuple(Row(**{**r, "workers": tuple(r["workers"])}) for r in msg["rows"])
        adaptive = msg.get("adaptive")
        return cls(
            heading=Heading(**msg["heading"]),
            kind=msg["kind"],
            time=msg["time"],
            requested=msg["requested"],
            connected=msg["connected"],
            pending=msg["pending"],
            adaptive=(adaptive[0], adaptive[1]) if adaptive else None,
            rows=rows,
        )


def _with_walltime(
    rows: tuple[Row, ...], walltime: float | None, since: MutableMapping[str, float], now: float
) -> tuple[Row, ...]:
    """Estimate walltime left of running rows that do not say, from when each was first seen
    running; forget rows that are gone."""
    if walltime is None:
        return rows
    for gone in set(since) - {row.id for row in rows}:
        del since[gone]
    out = []
    for row in rows:
        if row.walltime_left is None and row.state == "running":
            started = since.setdefault(row.id, now)
            left = max(walltime - (now - started), 0.0)
            row = dataclasses.replace(row, walltime_left=left, estimated=True)
        out.append(row)
    return tuple(out)


def take(
    cluster: object | None,
    heading: Heading,
    seen: Mapping[str, Seen],
    since: MutableMapping[str, float] | None = None,
) -> Snapshot:
    """Return the snapshot of ``cluster`` whose scheduler sees the workers ``seen``.

    ``since`` (kept by the caller between calls) lets walltime left be estimated for batch
    jobs whose cluster does not report it.
    """
    now = time.time()
    report = report_of(cluster)
    description = report.describe()
    since = {} if since is None else since
    rows = _with_walltime(join(description, seen), heading.walltime, since, now)
    return Snapshot(
        heading=heading,
        kind=description.kind,
        time=now,
        requested=requested(cluster, len(seen)),
        connected=len(seen),
        pending=pending(description),
        adaptive=report.adaptive_bounds(),
        rows=rows,
    )


def _seen_from_info(cluster: Cluster) -> dict[str, Seen]:
    workers = getattr(cluster, "scheduler_info", {}).get("workers", {})
    return {
        str(w.get("name", a)): Seen(str(w.get("host", "")), str(w.get("status", "running")))
        for a, w in workers.items()
    }


async def ask(cluster: Cluster) -> Snapshot | None:
    """Return the snapshot that ``cluster``'s scheduler takes, or None if it takes none (a
    scheduler that does not serve the hpcdask page answers an unknown request with None)."""
    msg = await getattr(cluster.scheduler_comm, HANDLER)()
    return Snapshot.from_msg(msg) if isinstance(msg, Mapping) else None


def from_cluster(cluster: Cluster) -> Snapshot:
    """Return a snapshot from what the cluster object itself knows of its workers."""
    name = str(getattr(cluster, "name", ""))
    return take(cluster, Heading(name, type(cluster).__name__, ""), _seen_from_info(cluster))


def fetch(cluster: Cluster) -> Snapshot:
    """Return a snapshot of ``cluster``, from its scheduler if that serves the hpcdask page.

    Examples
    --------
    >>> fetch(cluster).connected  # doctest: +SKIP
    2
    """
    snapshot: Snapshot | None = cluster.sync(ask, cluster)  # type: ignore[no-untyped-call]
    return snapshot or from_cluster(cluster)


def page_link(cluster: Cluster) -> str:
    """Return the address of the hpcdask page of ``cluster``'s dashboard ('' if it has none).

    Examples
    --------
    >>> page_link(cluster)  # doctest: +SKIP
    'http://127.0.0.1:8787/hpcdask'
    """
    link = str(cluster.dashboard_link or "")
    return urljoin(link, PAGE) if link else ""
