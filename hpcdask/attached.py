"""A running cluster, owned by its controller, attached to from another process as a Cluster.

``connect(NAME)``, the widgets and dask-ctl's discovery attach to clusters started by
``hpcdask up`` (or behind a login node) through :class:`AttachedCluster`. Its requests to
the controller go through :func:`hpcdask.remote.call`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from distributed.core import Status, rpc
from distributed.deploy.cluster import Cluster
from distributed.objects import SchedulerInfo
from tornado.ioloop import PeriodicCallback

from hpcdask import remote, security
from hpcdask.errors import HpcdaskError
from hpcdask.lifecycle import down
from hpcdask.state import Record

if TYPE_CHECKING:
    from distributed.security import Security

__all__ = ["AttachedCluster"]

#: Seconds between refreshes of an attached cluster's view of its workers.
INFO_INTERVAL = 2.0


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
        self.record = record
        super().__init__(asynchronous=asynchronous, loop=loop)  # type: ignore[no-untyped-call]
        self.name = record.name
        tls = record.scheduler_address.startswith("tls://")
        #: What a ``Client(cluster)`` connects with: the cluster's credentials if it uses TLS.
        keys = security or remote.credentials(record)
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
        record = remote.find_running(name)
        if record is None:
            raise HpcdaskError(f"no cluster named '{name}' is running")
        return cls(record, asynchronous=asynchronous)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], asynchronous: bool = False) -> AttachedCluster:
        """Attach with a connection file from ``hpcdask export`` (e.g. on another machine).

        ``scale``, ``adapt`` and ``shutdown`` need the cluster's controller, which only answers
        on the machine it runs on; a file gives computing and the dashboard.
        """
        record, keys = security.read_connection_file(path)
        return cls(record, asynchronous=asynchronous, security=keys)

    def shutdown(self) -> None:
        """Stop the cluster itself, not only this attachment."""
        self.close()
        down(self.record.name)

    async def _start(self) -> None:
        """Start watching the scheduler, without taking the owner's worker-status feed.

        distributed's ``Cluster._start`` subscribes to worker updates through a scheduler
        plugin with a fixed name, so a second subscriber replaces the owner's and the owner's
        view of its workers freezes. An attached view polls the scheduler's identity instead.
        """
        await self._refresh_scheduler_info()
        self._cluster_info["name"] = self.record.name  # not the owner's internal name
        self.periodic_callbacks["hpcdask-scheduler-info"] = PeriodicCallback(
            self._refresh_scheduler_info, INFO_INTERVAL * 1000
        )
        for callback in self.periodic_callbacks.values():
            callback.start()
        self.status = Status.running

    async def _refresh_scheduler_info(self) -> None:
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
        remote.call(self.record, "scale", n=n, security=self._controller_keys)

    def adapt(self, minimum: int = 0, maximum: int = 1, **kwargs: Any) -> None:  # type: ignore[override]
        """Ask the controller to scale adaptively between ``minimum`` and ``maximum``."""
        remote.call(
            self.record, "adapt", minimum=minimum, maximum=maximum, security=self._controller_keys
        )

    def status_report(self) -> dict[str, Any]:
        """Return the controller's status report (workers, requested, jobs, …)."""
        report: dict[str, Any] = remote.call(self.record, "status", security=self._controller_keys)
        return report
