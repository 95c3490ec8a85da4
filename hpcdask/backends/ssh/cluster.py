"""``HostCluster``: a SpecCluster whose workers are placed round-robin over SSH hosts."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from distributed.deploy.spec import SpecCluster

from hpcdask.backends.base import Description, Placement, Reports
from hpcdask.backends.replace import ReplacesEnded
from hpcdask.backends.ssh.connect import Connections
from hpcdask.backends.ssh.placement import capacity, next_host
from hpcdask.backends.ssh.plan import HostPlan
from hpcdask.backends.ssh.process import SSHWorker

__all__ = ["HostCluster"]

logger = logging.getLogger(__name__)


class HostCluster(Reports, ReplacesEnded, SpecCluster):
    """Dask workers on SSH hosts that scale and adapt, never beyond a host's capacity.

    Parameters
    ----------
    plans
        The usable hosts, in order.
    threads
        Threads per worker on each host (None: Dask decides on the host).
    worker_options
        Options shared by every worker's nanny (memory limit, death timeout, resources…).
    secret_env
        Environment sent to remote processes over stdin (Dask config, TLS credentials).
    failed_hosts
        Hosts left out at start, with the reason; shown by ``repr`` and kept up to date.
    """

    def __init__(
        self,
        plans: Mapping[str, HostPlan],
        *,
        threads: Mapping[str, int | None],
        worker_options: Mapping[str, Any],
        secret_env: Mapping[str, str],
        start_timeout: float,
        scheduler: dict[str, Any],
        n_workers: int | None = None,
        failed_hosts: Mapping[str, str] | None = None,
        connections: Connections | None = None,
        dashboard_host: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.plans = dict(plans)
        self.failed_hosts: dict[str, str] = dict(failed_hosts or {})
        self._threads = dict(threads)
        self._connections = connections or Connections()
        self._dashboard_host = dashboard_host
        self._worker_options = dict(worker_options)
        self._secret_env = dict(secret_env)
        self._start_timeout = start_timeout
        self._i = 0
        initial: dict[str, Any] = {}
        for _ in range(min(self.capacity if n_workers is None else n_workers, self.capacity)):
            initial.update(self._next_spec(initial))
        # SpecCluster starts these before returning, and closes everything if one fails.
        super().__init__(  # type: ignore[no-untyped-call]
            workers=initial, scheduler=scheduler, worker={"cls": SSHWorker, "options": {}}, **kwargs
        )

    @property
    def dashboard_link(self) -> str:
        """The dashboard's link, on the address it listens on (not the scheduler's)."""
        link: str = super().dashboard_link
        if not self._dashboard_host or self.scheduler_address.startswith(("inproc", "ucx")):
            return link
        host = self.scheduler_address.split("://")[-1].rsplit(":", 1)[0]
        return link.replace(f"//{host}:", f"//{self._dashboard_host}:", 1)

    @property
    def capacity(self) -> int:
        """How many workers the usable hosts can hold."""
        slots = {h: p.slots for h, p in self.plans.items()}
        return capacity(slots, self.failed_hosts)

    def describe(self) -> Description:
        """Return one placement per host: its state, its workers, its free slots.

        Examples
        --------
        >>> [(p.id, p.state, p.workers) for p in cluster.describe().placements]  # doctest: +SKIP
        [('ws1', 'ok', ('ws1-0', 'ws1-2')), ('ws2', 'failed', ())]
        """
        placed: dict[str, list[str]] = {host: [] for host in self.plans}
        for name, spec in self.worker_spec.items():
            placed.setdefault(spec["options"]["plan"].host, []).append(str(name))
        rows = []
        for host, names in placed.items():
            slots = self.plans[host].slots if host in self.plans else 0
            failed = self.failed_hosts.get(host)
            state = "failed" if failed else ("ok" if names else "idle")
            note = failed or f"{len(names)} of {slots} slots used"
            rows.append(Placement(host, state, nodes=host, workers=tuple(names), note=note))
        for host, reason in self.failed_hosts.items():
            if host not in placed:
                rows.append(Placement(host, "failed", nodes=host, note=reason))
        return Description("host", tuple(rows))

    def new_worker_spec(self) -> dict[str, dict[str, Any]]:
        return self._next_spec(self.worker_spec)

    def _next_spec(self, existing: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Return the name and spec of one more worker, placed on the next host in turn."""
        slots = {h: p.slots for h, p in self.plans.items()}
        placed = [spec["options"]["plan"].host for spec in existing.values()]
        host = next_host(slots, placed, self.failed_hosts)
        if host is None:
            raise ValueError("every usable host is full")
        while (name := f"{host}-{self._i}") in existing:
            self._i += 1
        options = {**self._worker_options, "nthreads": self._threads[host]}
        limit = self.plans[host].memory_per_worker()
        if limit:
            options["memory_limit"] = limit
        spec = {
            "plan": self.plans[host],
            "connections": self._connections,
            "options": options,
            "env": {},
            "secret_env": self._secret_env,
            "start_timeout": self._start_timeout,
            "on_exit": self._worker_exited,
        }
        return {name: {"cls": SSHWorker, "options": spec}}

    def scale(self, n: int = 0, memory: Any = None, cores: Any = None) -> Any:
        """Scale to ``n`` workers, at most the usable hosts' capacity."""
        if n > self.capacity:
            logger.warning(
                "%s: asked for %d workers, the hosts hold %d", self.name, n, self.capacity
            )
            n = self.capacity
        return super().scale(n, memory=memory, cores=cores)  # type: ignore[no-untyped-call]

    def _worker_exited(self, worker: SSHWorker) -> None:
        """Replace a worker that died on its own where it fits; a host that cannot be reached
        any more counts as failed, so nothing is placed there again."""
        if worker.connection_lost():
            self.failed_hosts[worker.plan.host] = "connection lost during the run"
        self.replace_ended([worker.name])

    def ask_again(self, target: int, names: list[str]) -> None:
        """Drop the lost workers from the scheduler, then scale back to ``target``."""
        assert self.loop is not None
        self.loop.add_callback(self._replace, names, target)

    async def _replace(self, names: list[str], target: int) -> None:
        """Drop the lost workers from the scheduler at once (their tasks move elsewhere now,
        not after the scheduler's worker TTL), then scale back to ``target``."""
        scheduler = self.scheduler
        # A scheduler on another host (scheduler: HOST) drops the worker itself, by its TTL.
        for address, state in list(getattr(scheduler, "workers", {}).items()):
            if state.name in names:
                await scheduler.remove_worker(  # type: ignore[union-attr]
                    address, stimulus_id="hpcdask-worker-lost"
                )
        if self.status.name in ("running", "created"):
            self.scale(target)

    async def _close(self) -> None:
        try:
            await super()._close()  # type: ignore[no-untyped-call]
        finally:
            self._connections.close_all()
