"""Find running clusters by name and talk to their controllers; attach to them as a Cluster.

A record whose controller does not answer is stale (the controller died): it is removed, and
the cluster counts as not running.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from distributed.deploy.cluster import Cluster

from hpcdask import state
from hpcdask._sync import run_sync
from hpcdask.errors import HpcdaskError
from hpcdask.state import Record

if TYPE_CHECKING:
    from distributed.security import Security

__all__ = ["AttachedCluster", "ControllerGone", "call", "credentials", "find_running", "pid_alive"]

#: Seconds a controller gets to answer one request.
TIMEOUT = 5.0
#: Seconds between refreshes of an attached cluster's view of its workers.
INFO_INTERVAL = 2.0


class ControllerGone(HpcdaskError):
    """The cluster's controller does not answer."""


def pid_alive(pid: int) -> bool:
    """Return whether process ``pid`` exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True


def credentials(record: Record) -> Security:
    """Return the credentials that let this user talk to ``record``'s cluster."""
    from hpcdask import security

    found = security.load(record.name)
    if found is None:
        raise ControllerGone(
            f"cluster '{record.name}': its credentials are missing from {state.state_dir()}"
        )
    return found


async def _call(address: str, args: dict[str, Any], op: str, **kwargs: Any) -> Any:
    from distributed.core import rpc

    async with rpc(address, timeout=TIMEOUT, connection_args=args) as controller:  # type: ignore[no-untyped-call]
        return await asyncio.wait_for(getattr(controller, f"hpcdask_{op}")(**kwargs), TIMEOUT)


def call(record: Record, op: str, *, security: Security | None = None, **kwargs: Any) -> Any:
    """Send request ``op`` to the controller of ``record`` and return its answer.

    ``security`` defaults to the credentials in this user's state folder.
    """
    if not pid_alive(record.pid):
        raise ControllerGone(f"cluster '{record.name}': its controller (pid {record.pid}) died")
    try:
        keys = security or credentials(record)
        args = keys.get_connection_args("client")  # type: ignore[no-untyped-call]
        return run_sync(lambda: _call(record.controller_address, args, op, **kwargs))
    except (OSError, asyncio.TimeoutError) as error:
        raise ControllerGone(
            f"cluster '{record.name}': its controller does not answer ({error or 'timeout'})"
        ) from None


def find_running(name: str) -> Record | None:
    """Return the record of the running cluster ``name``; clean up and None if it died."""
    record = state.read(name)
    if record is None:
        return None
    if pid_alive(record.pid):
        return record
    state.remove(name)
    return None


class AttachedCluster(Cluster):
    """A running cluster, owned by its controller, seen from another process.

    It behaves like the cluster itself for ``Client``, the dashboard link, ``scale`` and
    ``adapt``; closing it detaches without stopping the cluster (``hpcdask down`` does that).
    """

    def __init__(
        self,
        record: Record,
        asynchronous: bool = False,
        loop: Any = None,
        security: Security | None = None,
    ) -> None:
        from distributed.core import rpc

        self.record = record
        super().__init__(asynchronous=asynchronous, loop=loop)  # type: ignore[no-untyped-call]
        self.name = record.name
        tls = record.scheduler_address.startswith("tls://")
        #: What a ``Client(cluster)`` connects with: the cluster's credentials if it uses TLS.
        keys = security or credentials(record)
        self.security = keys if tls else None
        self._controller_keys = keys
        args = self.security.get_connection_args("client") if self.security else {}  # type: ignore[no-untyped-call]
        self.scheduler_comm = rpc(record.scheduler_address, connection_args=args)  # type: ignore[no-untyped-call]
        if not asynchronous:
            self._loop_runner.start()  # type: ignore[no-untyped-call]
            self.sync(self._start)  # type: ignore[no-untyped-call]

    def close(self, timeout: float | None = None) -> Any:
        """Detach from the cluster; it keeps running (``hpcdask down`` stops it)."""
        result = super().close(timeout)
        if not self.asynchronous:
            self._loop_runner.stop()  # type: ignore[no-untyped-call]
        return result

    @classmethod
    def from_name(cls, name: str, asynchronous: bool = False) -> AttachedCluster:
        """Attach to the running cluster ``name`` (the dask-ctl discovery contract)."""
        record = find_running(name)
        if record is None:
            raise HpcdaskError(f"no cluster named '{name}' is running")
        return cls(record, asynchronous=asynchronous)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], asynchronous: bool = False) -> AttachedCluster:
        """Attach with a connection file from ``hpcdask export`` (e.g. on another machine).

        ``scale``, ``adapt`` and ``shutdown`` need the cluster's controller, which only answers
        on the machine it runs on; a file gives computing and the dashboard.
        """
        from hpcdask import security

        record, credentials = security.read_connection_file(path)
        return cls(record, asynchronous=asynchronous, security=credentials)

    def shutdown(self) -> None:
        """Stop the cluster itself, not only this attachment."""
        from hpcdask.lifecycle import down

        self.close()
        down(self.record.name)

    async def _start(self) -> None:
        """Start watching the scheduler, without taking the owner's worker-status feed.

        distributed's ``Cluster._start`` subscribes to worker updates through a scheduler
        plugin with a fixed name, so a second subscriber replaces the owner's and the owner's
        view of its workers freezes. An attached view polls the scheduler's identity instead.
        """
        from distributed.core import Status
        from tornado.ioloop import PeriodicCallback

        await self._refresh_scheduler_info()
        self._cluster_info["name"] = self.record.name  # not the owner's internal name
        self.periodic_callbacks["hpcdask-scheduler-info"] = PeriodicCallback(
            self._refresh_scheduler_info, INFO_INTERVAL * 1000
        )
        for callback in self.periodic_callbacks.values():
            callback.start()
        self.status = Status.running

    async def _refresh_scheduler_info(self) -> None:
        from distributed.objects import SchedulerInfo

        assert self.scheduler_comm is not None
        info = await self.scheduler_comm.identity()
        self.scheduler_info = SchedulerInfo(info)

    @property
    def scheduler_address(self) -> str:
        return self.record.scheduler_address

    @property
    def dashboard_link(self) -> str:
        """The dashboard as this machine reaches it (through the tunnel, behind a login node)."""
        return self.record.dashboard_link

    def scale(self, n: int) -> None:
        """Ask the controller for ``n`` workers (stops adaptive scaling)."""
        call(self.record, "scale", n=n, security=self._controller_keys)

    def adapt(self, minimum: int = 0, maximum: int = 1, **kwargs: Any) -> None:  # type: ignore[override]
        """Ask the controller to scale adaptively between ``minimum`` and ``maximum``."""
        call(self.record, "adapt", minimum=minimum, maximum=maximum, security=self._controller_keys)

    def status_report(self) -> dict[str, Any]:
        """Return the controller's status report (workers, requested, jobs, …)."""
        report: dict[str, Any] = call(self.record, "status", security=self._controller_keys)
        return report
