"""``PilotCluster``: a SpecCluster whose workers start inside held allocations."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from distributed.deploy.spec import ProcessInterface, SpecCluster
from tornado.ioloop import PeriodicCallback

from hpcdask.backends.base import Description
from hpcdask.pilot.launcher import LaunchError, Step
from hpcdask.pilot.pilot import Pilot

__all__ = ["PilotCluster", "PilotWorker", "worker_argv"]

logger = logging.getLogger(__name__)


def worker_argv(scheduler: str, name: str, host: str, options: Mapping[str, Any]) -> list[str]:
    """Return the ``dask worker`` command for one pilot worker.

    Examples
    --------
    >>> worker_argv("tcp://10.0.0.1:8786", "c-0", "10.0.0.5", {"python": "python3",
    ...             "nthreads": 2, "memory_limit": 10**9, "death_timeout": 60, "gpus": 1})[3:]
    ['tcp://10.0.0.1:8786', '--name', 'c-0', '--host', '10.0.0.5', '--nthreads', '2', \
'--memory-limit', '1000000000', '--death-timeout', '60', '--resources', 'GPU=1']
    """
    argv = [
        options.get("python") or sys.executable,
        "-m",
        "distributed.cli.dask_worker",
        scheduler,
        "--name",
        name,
        "--host",
        host,
        "--nthreads",
        str(options.get("nthreads") or 1),
        "--memory-limit",
        str(options.get("memory_limit") or "auto"),
        "--death-timeout",
        str(options.get("death_timeout", 60)),
    ]
    if options.get("gpus"):
        argv += ["--resources", f"GPU={options['gpus']}"]
    if options.get("protocol"):
        argv += ["--protocol", str(options["protocol"])]
    return argv


class PilotWorker(ProcessInterface):
    """One worker inside an allocation: claims a slot, launches, and gives the slot back."""

    def __init__(
        self,
        scheduler: str,
        *,
        name: str,
        pilot: Pilot,
        options: Mapping[str, Any],
        env: Mapping[str, str],
        start_timeout: float,
    ) -> None:
        super().__init__(scheduler=scheduler, name=name)  # type: ignore[no-untyped-call]
        self.scheduler, self.name, self.pilot = scheduler, name, pilot
        self.options, self.env, self.start_timeout = dict(options), dict(env), start_timeout
        self.step: Step | None = None
        self.where: tuple[str, str] | None = None

    async def start(self) -> None:
        """Claim a slot and launch there; if the allocation vanished meanwhile (cancelled,
        expired), look again: the claim then finds, or requests, another one."""
        for attempt in range(3):
            allocation, node = await self.pilot.claim(self.name)
            self.where = (allocation, node.name)
            argv = worker_argv(self.scheduler, self.name, node.address or node.name, self.options)
            try:
                self.step = await self.pilot.launcher.start(
                    allocation, node.name, argv, self.env, self.start_timeout
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
        if self.step is not None:
            await self.pilot.launcher.stop(self.step)
        self.pilot.release(self.name)
        await super().close()  # type: ignore[no-untyped-call]


class PilotCluster(SpecCluster):
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

    async def _start(self) -> None:
        if self.pilot.settings.current:
            await self.pilot.adopt_current(self.pilot.settings.current)
        await super()._start()  # type: ignore[no-untyped-call]
        self.pilot.allocations.watch(self.scheduler_address, self._death_timeout)
        self._ticker = PeriodicCallback(self._tick, 1000)
        self._ticker.start()

    def _replace_dead(self) -> None:
        """Forget workers whose step ended on its own (allocation cancelled or timed out,
        node lost) and ask for as many again: they start in allocations that still run."""
        dead = [
            name
            for name, worker in self.workers.items()
            if isinstance(worker, PilotWorker)
            and worker.step is not None
            and worker.step.process.returncode is not None
            and name in self.worker_spec
        ]
        if not dead:
            return
        logger.warning("pilot %s: workers %s ended; replacing them", self.name, ", ".join(dead))
        target = len(self.worker_spec)
        for name in dead:
            self.pilot.release(name)
            self.worker_spec.pop(name)
            self.workers.pop(name)
        self.scale(target)  # type: ignore[no-untyped-call]

    async def _tick(self) -> None:
        """Give back idle allocations; retire workers whose walltime is ending; replace
        workers that died with their allocation."""
        try:
            expiring = [w for w in await self.pilot.tick() if w in self.worker_spec]
        except Exception as error:  # a failing squeue must not stop the loop
            logger.warning("pilot %s: %s", self.name, error)
            return
        self._replace_dead()
        if expiring:
            target = len(self.worker_spec)
            logger.info("retiring %s before their allocation ends", ", ".join(expiring))
            await self.scale_down(expiring)  # type: ignore[no-untyped-call]
            self.scale(target)  # type: ignore[no-untyped-call]

    def job_states(self) -> dict[str, str]:
        """Return allocation id → state, for ``hpcdask status``."""
        return {str(row["id"]): str(row["state"]) for row in self.pilot.describe()}

    def describe(self) -> Description:
        """Return the allocations as the dashboard shows them (one placement each)."""
        return Description("allocation", self.pilot.placements())

    def allocations(self) -> list[dict[str, object]]:
        """Return each allocation: id, state, nodes, walltime left, workers per node."""
        return self.pilot.describe()

    async def _close(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
        try:
            await super()._close()  # type: ignore[no-untyped-call]
        finally:
            await self.pilot.close()
