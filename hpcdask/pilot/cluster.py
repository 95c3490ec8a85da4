"""``PilotCluster``: a SpecCluster whose workers start inside held allocations.

Workers of an allocation whose walltime is ending leave the cluster's spec at once, so that
replacements start in an allocation that still runs, and are retired gracefully through the
scheduler (:mod:`hpcdask.pilot.retire`) while those replacements take over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from distributed.core import Status
from distributed.deploy.spec import ProcessInterface, SpecCluster
from tornado.ioloop import PeriodicCallback

from hpcdask.backends.base import Description, Reports
from hpcdask.backends.replace import ReplacesEnded
from hpcdask.pilot.launcher import LaunchError, WorkerHandle
from hpcdask.pilot.pilot import Pilot
from hpcdask.pilot.retire import retire

__all__ = ["PilotCluster", "PilotWorker"]

logger = logging.getLogger(__name__)


class PilotWorker(ProcessInterface):
    """One worker inside an allocation: claims a slot, launches, and gives the slot back."""

    def __init__(
        self,
        scheduler: str,
        *,
        name: str,
        pilot: Pilot,
        options: Mapping[str, Any],
        start_timeout: float,
    ) -> None:
        super().__init__(scheduler=scheduler, name=name)  # type: ignore[no-untyped-call]
        self.scheduler, self.name, self.pilot = scheduler, name, pilot
        self.options, self.start_timeout = dict(options), start_timeout
        self.handle: WorkerHandle | None = None
        self.leaving = False  # retired by the scheduler: it closes by itself
        self._closing: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Claim a slot and launch there; if the allocation vanished meanwhile (cancelled,
        expired), look again: the claim then finds, or requests, another one."""
        for attempt in range(3):
            allocation, node = await self.pilot.claim(self.name)
            options = {"host": node.address or node.name, **self.options}
            try:
                self.handle = await self.pilot.launcher.start(
                    allocation, node, self.name, self.scheduler, options, self.start_timeout
                )
                break
            except LaunchError:
                self.pilot.release(self.name)
                await self.pilot.refresh(force=True)
                if attempt == 2 or allocation in self.pilot.book.allocations:
                    raise
            except BaseException:
                self.pilot.release(self.name)
                raise
        await super().start()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        """Stop the worker (once, however often the cluster asks) and free its slot."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        if self.handle is not None:
            await self.pilot.launcher.stop(self.handle, leaving=self.leaving)
        self.pilot.release(self.name)
        await super().close()  # type: ignore[no-untyped-call]


def _step_ended(worker: object) -> bool:
    """Whether ``worker`` is a pilot worker whose job step ended."""
    return isinstance(worker, PilotWorker) and worker.handle is not None and worker.handle.ended


class PilotCluster(Reports, ReplacesEnded, SpecCluster):
    """Workers started in seconds inside allocations that the cluster holds and gives back."""

    def __init__(
        self,
        pilot: Pilot,
        *,
        worker: Mapping[str, Any],
        scheduler: dict[str, Any],
        n_workers: int,
        name: str,
        **kwargs: Any,
    ) -> None:
        self.pilot = pilot
        pilot.wanted = lambda: len(self.worker_spec)
        self._death_timeout = float(worker.get("options", {}).get("death_timeout", 60))
        self._prefix = name
        self._ticker: PeriodicCallback | None = None
        self._retiring: dict[str, PilotWorker] = {}
        self._retirements: set[asyncio.Future[None]] = set()
        template = {"cls": PilotWorker, "options": {"pilot": pilot, **worker}}
        initial = {f"{name}-{i}": template for i in range(n_workers)}
        super().__init__(
            workers=initial,
            scheduler=scheduler,  # type: ignore[no-untyped-call]
            worker=template,
            name=name,
            **kwargs,
        )

    def _new_worker_name(self, worker_number: int) -> str:
        return f"{self._prefix}-{worker_number}"

    def new_worker_spec(self) -> dict[str, Any]:
        """Return the next worker's name and spec; never the name of one still retiring (the
        scheduler and the slot book know workers by name)."""
        while True:
            spec: dict[str, Any] = super().new_worker_spec()  # type: ignore[no-untyped-call]
            if not self._retiring.keys() & spec.keys():
                return spec
            self._i += 1

    async def scale_down(self, workers: Any) -> None:
        """Stop ``workers``, which adaptive scaling has just retired through the scheduler:
        they are closing by themselves, and their agents give them time to."""
        for name in workers:
            if isinstance(worker := self.workers.get(name), PilotWorker):
                worker.leaving = True
        await super().scale_down(workers)  # type: ignore[no-untyped-call]

    async def _start(self) -> None:
        if self.pilot.settings.current:
            await self.pilot.adopt_current(self.pilot.settings.current)
        await super()._start()  # type: ignore[no-untyped-call]
        self.pilot.allocations.watch(self.scheduler_address, self._death_timeout)
        self._ticker = PeriodicCallback(self._tick, 1000)
        self._ticker.start()

    def _replace_dead(self) -> None:
        """Replace workers whose step ended on its own (allocation cancelled or timed out,
        node lost): they start in allocations that still run."""
        self.replace_ended(self.ended_planned(_step_ended))

    def forget_ended(self, name: str, worker: Any) -> None:
        """Give the ended worker's slot back."""
        self.pilot.release(name)

    async def _tick(self) -> None:
        """Give back allocations not needed, request replacements in time, retire workers
        whose walltime is ending, replace workers that died with their allocation."""
        try:
            expiring = await self.pilot.tick()
        except Exception as error:  # a failing squeue must not stop the loop
            logger.warning("pilot %s: %s", self.name, error)
            return
        self._replace_dead()
        self._retire(expiring)

    def _retire(self, names: list[str]) -> None:
        """Take the running workers ``names`` out of the spec, ask for as many replacements,
        and retire them gracefully in the background."""
        workers = {
            name: worker
            for name in names
            if isinstance(worker := self.workers.get(name), PilotWorker)
            and worker.status == Status.running
            and name in self.worker_spec  # else the cluster is stopping it already
        }
        if not workers:
            return
        logger.info("retiring %s before their allocation ends", ", ".join(workers))
        for name in workers:
            self.workers.pop(name)
            self.worker_spec.pop(name)
        self._retiring.update(workers)
        self.scale(len(self.worker_spec) + len(workers))  # type: ignore[no-untyped-call]
        task = asyncio.ensure_future(self._retire_gracefully(workers))
        self._retirements.add(task)
        task.add_done_callback(self._retirements.discard)

    async def _retire_gracefully(self, workers: dict[str, PilotWorker]) -> None:
        ends_at = min(self.pilot.ends_at(name) for name in workers)
        try:
            await retire(self.scheduler_comm, list(workers), ends_at, self.pilot.settings.margin)
        except Exception as error:  # the scheduler went away: the workers are stopped below
            logger.warning("pilot %s: retiring %s: %s", self.name, ", ".join(workers), error)
        finally:
            await asyncio.gather(*(w.close() for w in workers.values()), return_exceptions=True)
            for name in workers:
                self._retiring.pop(name, None)

    def job_states(self) -> dict[str, str]:
        """Return allocation id → state (``pending``, ``running``, ``ending``, or how a
        recently ended one ended: ``timeout`` is not ``failed``), for ``hpcdask status``."""
        ended = {id: state.value for id, state in self.pilot.ended.items()}
        return {**ended, **{str(row["id"]): str(row["state"]) for row in self.pilot.describe()}}

    def describe(self) -> Description:
        """Return the allocations as the dashboard shows them (one placement each)."""
        return Description("allocation", self.pilot.placements())

    def allocations(self) -> list[dict[str, object]] | None:
        """Return each allocation held: id, state, nodes, size, walltime left, workers per node.

        Examples
        --------
        >>> cluster.allocations()  # doctest: +SKIP
        [{'id': '42', 'state': 'running', 'nodes': ['n1', 'n2'], 'size': 2,
          'walltime_left': 3541, 'workers': {'n1': 2, 'n2': 2}}]
        """
        return self.pilot.describe()

    async def _close(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
        for task in list(self._retirements):
            task.cancel()
        await asyncio.gather(*self._retirements, return_exceptions=True)
        retiring = [w.close() for w in self._retiring.values()]  # those cancelled mid-close
        await asyncio.gather(*retiring, return_exceptions=True)
        self._retiring.clear()
        try:
            await super()._close()  # type: ignore[no-untyped-call]
        finally:
            await self.pilot.close()
