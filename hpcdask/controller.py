"""The process behind ``hpcdask up``: it owns one cluster for as long as the cluster lives.

It starts the resource's cluster, serves a few requests (status, scale, adapt, shutdown) on a
small distributed ``Server`` bound to localhost, writes the cluster's record, and on any exit
(``hpcdask down``, SIGTERM, the scheduler's idle timeout) closes the cluster, which stops its
workers and cancels its jobs, and removes the record. It holds a lock on the cluster's name
while it runs, so a second controller of the same name gives up at once.

Run as ``python -m hpcdask.controller`` with a JSON request on stdin.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from hpcdask import state
from hpcdask._version import __version__

if TYPE_CHECKING:
    from distributed.core import Server
    from distributed.deploy.cluster import Cluster
    from distributed.security import Security

    from hpcdask.models import Resource

__all__ = ["ALREADY_RUNNING", "main", "snapshot"]

logger = logging.getLogger("hpcdask.controller")
#: Exit code of a controller that found another one holding the name.
ALREADY_RUNNING = 3


@contextlib.contextmanager
def _name_lock(name: str) -> Iterator[bool]:
    """Hold the name's lock for the block; yield False if another process holds it."""
    fd = os.open(state.lock_path(name), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def snapshot(cluster: Cluster, resource: Resource, started: float) -> dict[str, Any]:
    """Return what ``hpcdask status`` shows of a running cluster."""
    workers = cluster.scheduler_info.get("workers", {}).values()
    adaptive = getattr(cluster, "_adaptive", None)
    jobs = getattr(cluster, "job_states", None)
    return {
        "name": resource.name,
        "type": resource.type,
        "state": "running",
        "workers": len(workers),
        "requested": len(getattr(cluster, "worker_spec", {})),
        "adaptive": [adaptive.minimum, adaptive.maximum] if adaptive is not None else None,
        "threads": sum(w.get("nthreads", 0) for w in workers),
        "memory": sum(w.get("memory_limit", 0) or 0 for w in workers),
        "dashboard": cluster.dashboard_link,
        "scheduler": cluster.scheduler_address,
        "started": started,
        "pid": os.getpid(),
        "jobs": jobs() if callable(jobs) else {},
        "failed_hosts": dict(getattr(cluster, "failed_hosts", {})),
    }


def _stop_adaptive(cluster: Cluster) -> None:
    adaptive = getattr(cluster, "_adaptive", None)
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
        """The scheduler's and every worker's recent log lines."""
        found = await cluster._get_logs(cluster=False)  # type: ignore[no-untyped-call]
        return {str(who): str(text).splitlines() for who, text in found.items()}

    return {
        "hpcdask_status": status,
        "hpcdask_scale": scale,
        "hpcdask_adapt": adapt,
        "hpcdask_shutdown": shutdown,
        "hpcdask_logs": logs,
    }


async def _serve(handlers: dict[str, Any], credentials: Security) -> Server:
    """Serve ``handlers`` on localhost over TLS: only holders of the credentials get in."""
    from distributed.core import Server

    server = Server(handlers)  # type: ignore[no-untyped-call]
    listen = credentials.get_listen_args("scheduler")  # type: ignore[no-untyped-call]
    await server.listen("tls://127.0.0.1:0", **listen)  # type: ignore[no-untyped-call]
    return server


def _scheduler_closed(cluster: Cluster) -> bool:
    from distributed.core import Status

    scheduler = getattr(cluster, "scheduler", None)
    status = getattr(scheduler, "status", None)
    return status in (Status.closing, Status.closed) or cluster.status == Status.closed


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
    )


def run(resource: Resource) -> None:
    """Start ``resource``'s cluster and serve it until asked to stop; always clean up."""
    from hpcdask import security
    from hpcdask.cluster import start_cluster

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    started = time.time()
    credentials = security.new_credentials()
    security.save(resource.name, credentials)
    cluster = start_cluster(resource, security=credentials)
    server = None
    try:
        handlers = _handlers(cluster, resource, started, stop)
        server = cluster.sync(_serve, handlers, credentials)  # type: ignore[no-untyped-call]
        state.write(_record(cluster, resource, server, started))
        logger.info("cluster %s running at %s", resource.name, cluster.scheduler_address)
        while not stop.wait(0.5):
            if _scheduler_closed(cluster):
                logger.info("the scheduler closed (idle timeout?); shutting down")
                break
    finally:
        record = state.read(resource.name)
        if record is not None and record.pid == os.getpid():
            state.remove(resource.name)
            security.remove(resource.name)
        if server is not None:
            server.stop()
        cluster.close()
        logger.info("cluster %s closed", resource.name)


def _resource(data: dict[str, Any]) -> Resource:
    from hpcdask.resource import TYPES

    return TYPES[data["type"]].model_validate(data)


def main() -> None:
    """Read the request from stdin, take the name's lock, then detach and run the controller.

    The first process prints the controller's pid and exits (0, or ``ALREADY_RUNNING``), so
    ``hpcdask up`` learns at once whether the name was free; the forked controller keeps the
    lock, which the kernel releases when it exits, however it exits.
    """
    resource = _resource(json.load(sys.stdin))
    with _name_lock(resource.name) as locked:
        if not locked:
            print(f"hpcdask: cluster '{resource.name}' is already running", file=sys.stderr)
            sys.exit(ALREADY_RUNNING)
        child = os.fork()
        if child:
            print(child, flush=True)
            os._exit(0)
        os.setsid()
        sys.stdout.flush()
        log = os.open(state.log_path(resource.name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        for fd in (1, 2):
            os.dup2(log, fd)
        os.close(log)
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
        )
        try:
            run(resource)
        except Exception:
            logger.exception("the controller failed")
            os._exit(1)
        os._exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
