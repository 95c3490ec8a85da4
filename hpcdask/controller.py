"""The process behind ``hpcdask up``: it owns one cluster for as long as the cluster lives.

It starts the resource's cluster, serves a few requests (status, scale, adapt, shutdown) on a
small distributed ``Server`` bound to localhost, writes the cluster's record, and on any exit
(``hpcdask down``, SIGTERM, the scheduler's idle timeout) closes the cluster, which stops its
workers and cancels its jobs, and removes the record. It holds a lock on the cluster's name
while it runs, so a second controller of the same name gives up at once.

Run as ``python -m hpcdask.controller`` with a JSON request on stdin.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from hpcdask import security, state
from hpcdask._daemon import detach
from hpcdask._version import __version__
from hpcdask.backends.base import Reporting, reporting
from hpcdask.jobs import JobState
from hpcdask.resource import from_dump

if TYPE_CHECKING:
    from distributed.core import Server
    from distributed.deploy.cluster import Cluster
    from distributed.security import Security

    from hpcdask.models import Resource

__all__ = ["main", "snapshot"]

logger = logging.getLogger("hpcdask.controller")
#: Lines of its own log a controller sends to ``hpcdask logs``.
LOG_LINES = 1000
#: Seconds a cluster may take to start before its controller gives up.
START_TIMEOUT = 600.0
#: The names of the states of jobs that hold no resources any more.
_ENDED = frozenset(state.value for state in JobState if state.ended)


def snapshot(cluster: Cluster, resource: Resource, started: float) -> dict[str, Any]:
    """Return what ``hpcdask status`` shows of a running cluster, from what it reports
    (:class:`~hpcdask.backends.base.Reporting`) and what its scheduler sees.

    ``jobs`` maps batch job ids (a pilot's allocation ids) to their states; ``allocations``
    lists a pilot cluster's allocations (see ``PilotCluster.allocations``), None for other
    clusters; ``failed_hosts`` the hosts an ``ssh`` cluster left out, with the reason.
    """
    report = reporting(cluster)
    workers = cluster.scheduler_info.get("workers", {}).values()
    bounds = report.adaptive_bounds()
    return {
        "name": resource.name,
        "type": resource.type,
        "state": "running",
        "workers": len(workers),
        "requested": report.workers_requested(),
        "adaptive": list(bounds) if bounds is not None else None,
        "threads": sum(w.get("nthreads", 0) for w in workers),
        "memory": sum(w.get("memory_limit", 0) or 0 for w in workers),
        "dashboard": cluster.dashboard_link,
        "scheduler": cluster.scheduler_address,
        "started": started,
        "pid": os.getpid(),
        "jobs": report.job_states(),
        "job_counts": dict(Counter(report.job_states().values())),
        "pending": report.pending_reasons(),
        "not_answering": report.not_answering(),
        "failed_hosts": dict(report.failed_hosts),
        "allocations": report.allocations(),
    }


def live_jobs(report: Reporting) -> tuple[str, ...]:
    """Return the ids of the batch jobs (a pilot's allocations) that have not ended yet.

    Examples
    --------
    >>> from hpcdask.backends.base import Reports
    >>> class Jobs(Reports):
    ...     def job_states(self) -> dict[str, str]:
    ...         return {"7": "running", "8": "pending", "6": "timeout", "9": "ending"}
    >>> live_jobs(Jobs())
    ('7', '8', '9')
    """
    return tuple(job for job, name in report.job_states().items() if name not in _ENDED)


def _stop_adaptive(cluster: Cluster) -> None:
    adaptive = cluster._adaptive
    if adaptive is not None:
        adaptive.stop()
        cluster._adaptive = None


def _handlers(
    cluster: Cluster, resource: Resource, started: float, stop: threading.Event
) -> dict[str, Any]:
    def status() -> dict[str, Any]:
        return snapshot(cluster, resource, started)

    def scale(n: int) -> dict[str, Any]:
        _stop_adaptive(cluster)
        cluster.scale(int(n))
        return status()

    def adapt(minimum: int, maximum: int) -> dict[str, Any]:
        cluster.adapt(
            minimum=int(minimum),
            maximum=int(maximum),
            interval=resource.scaling.interval,
            wait_count=resource.scaling.wait_count,
            target_duration=resource.scaling.target_duration,
        )
        return status()

    def shutdown() -> str:
        stop.set()
        return "OK"

    async def logs() -> dict[str, list[str]]:
        """This controller's, the scheduler's and every worker's recent log lines."""
        found = await cluster._get_logs(cluster=False)  # type: ignore[no-untyped-call]
        path = state.log_path(resource.name)
        own = path.read_text().splitlines()[-LOG_LINES:] if path.exists() else []
        return {f"controller ({path})": own} | {
            str(who): str(text).splitlines() for who, text in found.items()
        }

    return {
        "hpcdask_status": status,
        "hpcdask_scale": scale,
        "hpcdask_adapt": adapt,
        "hpcdask_shutdown": shutdown,
        "hpcdask_logs": logs,
    }


async def _serve(handlers: dict[str, Any], credentials: Security) -> Server:
    """Serve ``handlers`` on localhost over TLS: only holders of the credentials get in."""
    from distributed.core import Server  # lazy: loads in the detached child (see main)

    server = Server(handlers)  # type: ignore[no-untyped-call]
    listen = credentials.get_listen_args("scheduler")  # type: ignore[no-untyped-call]
    await server.listen("tls://127.0.0.1:0", **listen)  # type: ignore[no-untyped-call]
    return server


def _scheduler_closed(cluster: Cluster) -> bool:
    from distributed.core import Status  # lazy: loads in the detached child (see main)

    scheduler = getattr(cluster, "scheduler", None)
    status = getattr(scheduler, "status", None)
    return status in (Status.closing, Status.closed) or cluster.status == Status.closed


async def _live_jobs(cluster: Cluster) -> tuple[str, ...]:
    return live_jobs(reporting(cluster))


def _record(cluster: Cluster, resource: Resource, server: Server, started: float) -> state.Record:
    return state.Record(
        name=resource.name,
        type=resource.type,
        scheduler_address=cluster.scheduler_address,
        dashboard_link=cluster.dashboard_link,
        controller_address=server.address,
        pid=os.getpid(),
        started=started,
        version=__version__,
        jobs=cluster.sync(_live_jobs, cluster),  # type: ignore[no-untyped-call]
    )


def _with_jobs(cluster: Cluster, record: state.Record) -> state.Record:
    """Return ``record`` with the cluster's live jobs now, written again if they changed
    (so the record names every job the cluster holds, to cancel should it be orphaned)."""
    try:
        jobs: tuple[str, ...] = cluster.sync(_live_jobs, cluster)  # type: ignore[no-untyped-call]
    except Exception as error:  # the cluster is closing: the record is removed soon
        logger.debug("cannot read the jobs of %s: %s", record.name, error)
        return record
    if jobs == record.jobs:
        return record
    record = dataclasses.replace(record, jobs=jobs)
    state.write(record)
    return record


def _abort_start(name: str, why: str) -> None:
    """Give up a cluster that is still starting: forget its credentials, kill its processes.

    The controller leads its own process group (``setsid``), so this takes local workers with
    it; remote workers and batch jobs stop by themselves once the scheduler is gone.
    """
    logger.error("cluster %s: %s; giving up", name, why)
    security.remove(name)
    logging.shutdown()
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _start(resource: Resource, credentials: Security) -> Cluster:
    """Start the cluster; a stop signal or ``START_TIMEOUT`` meanwhile aborts the start.

    Starting can hang for good (the scheduler closing under a short idle timeout before its
    first worker arrives), and the signals' usual handler only takes effect once it runs.
    """
    from hpcdask.cluster import start_cluster  # lazy: loads in the detached child (see main)

    def stopped(signum: int, _: Any) -> None:
        _abort_start(resource.name, f"stopped by signal {signum} while starting")

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stopped)
    watchdog = threading.Timer(
        START_TIMEOUT, _abort_start, (resource.name, f"not started within {START_TIMEOUT:g}s")
    )
    watchdog.daemon = True
    watchdog.start()
    try:
        return start_cluster(resource, security=credentials)
    except BaseException:
        security.remove(resource.name)
        raise
    finally:
        watchdog.cancel()


def _forget(name: str) -> None:
    """Remove this controller's record and credentials; never fail (the cluster must close).

    A damaged record of the name is this controller's too: it holds the name's lock.
    """
    try:
        found = state.read(name)
    except state.StateError:
        found = None
        mine = True
    else:
        mine = found is not None and found.pid == os.getpid()
    if mine:
        state.remove(name)
        security.remove(name)


def run(resource: Resource) -> None:
    """Start ``resource``'s cluster and serve it until asked to stop; always clean up."""
    stop = threading.Event()
    started = time.time()
    credentials = security.new_credentials()
    security.save(resource.name, credentials)
    cluster = _start(resource, credentials)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    server = None
    try:
        handlers = _handlers(cluster, resource, started, stop)
        server = cluster.sync(_serve, handlers, credentials)  # type: ignore[no-untyped-call]
        record = _record(cluster, resource, server, started)
        state.write(record)
        logger.info("cluster %s running at %s", resource.name, cluster.scheduler_address)
        while not stop.wait(0.5):
            if _scheduler_closed(cluster):
                logger.info("the scheduler closed (idle timeout?); shutting down")
                break
            record = _with_jobs(cluster, record)
    finally:
        _forget(resource.name)
        if server is not None:
            server.stop()
        cluster.close()
        logger.info("cluster %s closed", resource.name)


def main() -> None:
    """Read the request from stdin, then run the controller detached, holding the name's lock.

    The cluster's machinery (distributed, the backends) loads only in the detached child, so
    the launcher answers at once: the child's pid, or that the name is taken.
    """
    resource = from_dump(json.load(sys.stdin))
    detach(resource.name, lambda: run(resource))


if __name__ == "__main__":  # pragma: no cover
    main()
