"""Launchers start one Dask worker on one node of an allocation, and stop it.

:class:`SrunLauncher` runs it as a Slurm job step inside the held allocation
(``srun --jobid=ID --overlap -N1 -w NODE``): no new batch job, no queue wait.
:class:`LocalLauncher` runs it as a plain subprocess, for tests and ``allocation: current``
on a single node.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hpcdask.errors import HpcdaskError

__all__ = ["LaunchError", "Launcher", "LocalLauncher", "SrunLauncher", "Step"]

#: Seconds a stopped worker gets between SIGTERM and SIGKILL.
GRACE = 10.0


class LaunchError(HpcdaskError):
    """A worker could not be started inside its allocation."""


@dataclass
class Step:
    """A running worker: its process here (srun, or the worker itself) and its last words."""

    process: asyncio.subprocess.Process
    tail: collections.deque[str]
    drain: asyncio.Task[None] | None = None


class Launcher(ABC):
    """Starts and stops workers on nodes of allocations."""

    @abstractmethod
    def command(self, allocation: str, node: str, argv: Sequence[str]) -> list[str]:
        """Return the command that runs ``argv`` on ``node`` of ``allocation``."""

    async def start(
        self,
        allocation: str,
        node: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        timeout: float,
    ) -> Step:
        """Start a worker and return once it has registered with the scheduler."""
        process = await asyncio.create_subprocess_exec(
            *self.command(allocation, node, argv),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **env},
            start_new_session=True,
        )
        step = Step(process, collections.deque(maxlen=20))
        try:
            await asyncio.wait_for(self._registered(step), timeout)
        except (asyncio.TimeoutError, LaunchError) as error:
            await self.stop(step)
            said = " | ".join(step.tail) or "no output"
            why = (
                f"did not register within {timeout:g}s"
                if isinstance(error, asyncio.TimeoutError)
                else str(error)
            )
            raise LaunchError(
                f"worker on {node} (allocation {allocation}): {why}: {said}"
            ) from None
        step.drain = asyncio.ensure_future(self._drain(step))
        return step

    async def _registered(self, step: Step) -> None:
        assert step.process.stderr is not None
        while line := (await step.process.stderr.readline()).decode(errors="replace"):
            step.tail.append(line.rstrip())
            if "Registered to:" in line:
                return
        raise LaunchError(f"exited with code {await step.process.wait()}")

    async def _drain(self, step: Step) -> None:
        assert step.process.stderr is not None
        async for raw in step.process.stderr:
            step.tail.append(raw.decode(errors="replace").rstrip())

    async def stop(self, step: Step) -> None:
        """Stop the worker: SIGTERM (srun passes it on to the step), SIGKILL after a grace."""
        if step.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(step.process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(step.process.wait(), GRACE)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(step.process.pid, signal.SIGKILL)
            await step.process.wait()


class SrunLauncher(Launcher):
    """Workers as Slurm job steps inside an existing allocation."""

    def command(self, allocation: str, node: str, argv: Sequence[str]) -> list[str]:
        """Return ``srun --jobid=ID --overlap -N1 -n1 -w NODE ARGV``.

        Examples
        --------
        >>> SrunLauncher().command("42", "n3", ["python", "-V"])
        ['srun', '--jobid=42', '--overlap', '--nodes=1', '--ntasks=1', '--nodelist=n3', \
'--kill-on-bad-exit=1', 'python', '-V']
        """
        return [
            "srun",
            f"--jobid={allocation}",
            "--overlap",
            "--nodes=1",
            "--ntasks=1",
            f"--nodelist={node}",
            "--kill-on-bad-exit=1",
            *argv,
        ]


class LocalLauncher(Launcher):
    """Workers as subprocesses of this process (one node: this machine)."""

    def command(self, allocation: str, node: str, argv: Sequence[str]) -> list[str]:
        return list(argv)
