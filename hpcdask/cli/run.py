"""``hpcdask run``: a cluster for the lifetime of one command, like ``mpirun`` for Dask."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from hpcdask.cli.render import console
from hpcdask.cluster import start_cluster
from hpcdask.errors import HpcdaskError
from hpcdask.security import client_environment

if TYPE_CHECKING:
    from distributed.deploy.cluster import Cluster
    from rich.console import Console

    from hpcdask.models import Resource

__all__ = ["run"]

#: Seconds a command gets to exit after it was interrupted, before it is killed.
GRACE = 10.0


class _Stopped(Exception):
    """SIGTERM arrived; carries the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, frame: Any) -> None:
    raise _Stopped(signum)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """Let teardown finish even when the user presses Ctrl-C again."""
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _workers(cluster: Cluster) -> int:
    return len(cluster.scheduler_info.get("workers", {}))


def _wait_for_workers(cluster: Cluster, wanted: int, timeout: float, out: Console) -> None:
    deadline = time.monotonic() + timeout
    with out.status(f"Waiting for workers: {_workers(cluster)}/{wanted}") as status:
        while (have := _workers(cluster)) < wanted:
            if time.monotonic() > deadline:
                raise HpcdaskError(f"only {have} of {wanted} workers arrived within {timeout:g}s")
            status.update(f"Waiting for workers: {have}/{wanted}")
            time.sleep(0.1)


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _run_child(command: Sequence[str], env: dict[str, str], out: Console) -> int:
    try:
        child = subprocess.Popen(command, env=env)
    except FileNotFoundError:
        out.print(f"hpcdask: error: command not found: {command[0]}")
        return 127
    except PermissionError:
        out.print(f"hpcdask: error: command not executable: {command[0]}")
        return 126
    try:
        return _exit_code(child.wait())
    except (KeyboardInterrupt, _Stopped) as stop:
        signum = stop.signum if isinstance(stop, _Stopped) else signal.SIGINT
        with _signals_ignored():
            child.send_signal(signum)
            try:
                child.wait(GRACE)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return 128 + signum


def run(resource: Resource, command: Sequence[str], *, timeout: float = 300.0) -> int:
    """Start ``resource``'s cluster, run ``command`` against it, tear down; return its exit code."""
    out = console(stderr=True)
    with _sigterm_raises():
        with out.status(f"Starting {resource.type} cluster '{resource.name}'"):
            cluster = start_cluster(resource)
        try:
            out.print(
                f"hpcdask: cluster '{resource.name}' at {cluster.scheduler_address}, "
                f"dashboard {cluster.dashboard_link}",
                soft_wrap=True,
            )
            if not resource.scaling.adaptive and resource.scaling.workers:
                _wait_for_workers(cluster, resource.scaling.workers, timeout, out)
            env = {
                **os.environ,
                "DASK_SCHEDULER_ADDRESS": cluster.scheduler_address,
                "HPCDASK_RESOURCE": resource.name,
            }
            security = getattr(cluster, "security", None)
            if security is not None and cluster.scheduler_address.startswith("tls://"):
                env.update(client_environment(security))
            return _run_child(command, env, out)
        finally:
            with _signals_ignored(), out.status(f"Stopping cluster '{resource.name}'"):
                cluster.close()
