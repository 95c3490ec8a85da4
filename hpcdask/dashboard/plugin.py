"""The page's server side: a scheduler plugin in the process that owns the cluster.

It samples the cluster every second (the page's plot shows that history, so a page opened
late still sees how the cluster got where it is) and answers ``hpcdask_snapshot`` requests from
clients (the widgets). :mod:`hpcdask.dashboard.serving` adds it to a scheduler, with the page.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin
from tornado.ioloop import PeriodicCallback

from hpcdask.dashboard.describe import Seen
from hpcdask.dashboard.snapshot import HANDLER, HISTORY, INTERVAL, Heading, Snapshot, take

__all__ = ["DashboardPlugin", "Sample"]


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
