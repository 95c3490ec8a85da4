"""Put the hpcdask page on a cluster's dashboard: its plugin on the scheduler, its page served.

This binds the two halves, :mod:`hpcdask.dashboard.plugin` (the scheduler's side: samples
and snapshots) and :mod:`hpcdask.dashboard.page` (the Bokeh page that shows them), so neither
imports the other's module to be started.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from distributed import Scheduler

from hpcdask.dashboard.page import serve
from hpcdask.dashboard.plugin import DashboardPlugin
from hpcdask.dashboard.snapshot import Heading

if TYPE_CHECKING:
    from distributed.deploy.cluster import Cluster

    from hpcdask.models import Resource

__all__ = ["install"]

logger = logging.getLogger("hpcdask.dashboard.plugin")  # the name it has always logged under


async def _add(scheduler: Any, plugin: DashboardPlugin) -> bool:
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
    scheduler = getattr(cluster, "scheduler", None)
    if not isinstance(scheduler, Scheduler):
        logger.info("%s: the scheduler runs elsewhere; no hpcdask dashboard page", resource.name)
        return False
    if DashboardPlugin.name in scheduler.plugins:
        return True
    plugin = DashboardPlugin(Heading.of(resource), cluster)
    served: bool = cluster.sync(_add, scheduler, plugin)  # type: ignore[no-untyped-call]
    return served
