"""The page's server side: a scheduler plugin in the process that owns the cluster.

It samples the cluster every second (the page's plot shows that history, so a page opened
late still sees how the cluster got where it is), answers ``hpcdask_snapshot`` requests from
clients (the widgets), and serves the Bokeh page on the scheduler's own dashboard.
"""

from __future__ import annotations

import logging
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from distributed.diagnostics.plugin import SchedulerPlugin

from hpcdask.dashboard.describe import Seen
from hpcdask.dashboard.snapshot import HANDLER, Heading, Snapshot, take

if TYPE_CHECKING:
    from distributed.deploy.cluster import Cluster

    from hpcdask.models import Resource

__all__ = ["INTERVAL", "DashboardPlugin", "Sample", "install"]

logger = logging.getLogger(__name__)

#: Seconds between samples (and between page updates).
INTERVAL = 1.0
#: Samples kept: an hour at one a second.
HISTORY = 3600


@dataclass(frozen=True)
class Sample:
    """Worker counts at one moment: the points of the page's plot."""

    time: float
    requested: int
    connected: int
    pending: int


class DashboardPlugin(SchedulerPlugin):
    """Keeps the latest snapshot and the history of ``cluster`` on its scheduler.

    The cluster is held weakly (it owns the scheduler, which holds this plugin); without it,
    the snapshot shows the workers the scheduler sees.
    """

    name = "hpcdask-dashboard"

    def __init__(self, heading: Heading, cluster: object | None = None) -> None:
        self.heading = heading
        self._cluster: Callable[[], object | None] = (
            weakref.ref(cluster) if cluster is not None else lambda: None
        )
        self.history: deque[Sample] = deque(maxlen=HISTORY)
        self._since: dict[str, float] = {}
        self._scheduler: Any = None
        self.latest: Snapshot | None = None

    async def start(self, scheduler: Any) -> None:
        from tornado.ioloop import PeriodicCallback

        self._scheduler = scheduler
        scheduler.handlers[HANDLER] = self.snapshot_msg
        self.sample()
        callback = PeriodicCallback(self.sample, INTERVAL * 1000)
        scheduler.periodic_callbacks[self.name] = callback  # the scheduler stops it on close
        callback.start()

    async def close(self) -> None:
        if self._scheduler is not None:
            self._scheduler.handlers.pop(HANDLER, None)

    def _seen(self) -> dict[str, Seen]:
        workers = self._scheduler.workers.values() if self._scheduler is not None else ()
        return {str(w.name): Seen(str(w.host), str(w.status.name)) for w in workers}

    def snapshot(self) -> Snapshot:
        """Return the cluster as it is now."""
        return take(self._cluster(), self.heading, self._seen(), self._since)

    def sample(self) -> None:
        """Take a snapshot and add its counts to the history."""
        snapshot = self.latest = self.snapshot()  # if it raises, tornado logs it and goes on
        self.history.append(
            Sample(snapshot.time, snapshot.requested, snapshot.connected, snapshot.pending)
        )

    def snapshot_msg(self) -> dict[str, Any]:
        """The ``hpcdask_snapshot`` handler: the snapshot as plain data."""
        return self.snapshot().to_msg()


async def _add(scheduler: Any, plugin: DashboardPlugin) -> bool:
    from hpcdask.dashboard.page import serve

    scheduler.add_plugin(plugin, name=plugin.name)
    await plugin.start(scheduler)
    return serve(scheduler, plugin)


def install(cluster: Cluster, resource: Resource) -> bool:
    """Serve the hpcdask page on the dashboard of ``cluster``, whose scheduler runs here.

    Returns False, changing nothing, when the scheduler runs in another process (an ``ssh``
    resource's ``scheduler: HOST``) or when it has no dashboard.

    Examples
    --------
    >>> from hpcdask.cluster import start_cluster
    >>> install(start_cluster(resource), resource)  # doctest: +SKIP
    True
    """
    from distributed import Scheduler

    scheduler = getattr(cluster, "scheduler", None)
    if not isinstance(scheduler, Scheduler):
        logger.info("%s: the scheduler runs elsewhere; no hpcdask dashboard page", resource.name)
        return False
    if DashboardPlugin.name in scheduler.plugins:
        return True
    plugin = DashboardPlugin(Heading.of(resource), cluster)
    served: bool = cluster.sync(_add, scheduler, plugin)  # type: ignore[no-untyped-call]
    return served
