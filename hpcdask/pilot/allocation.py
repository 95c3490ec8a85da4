"""Allocations: batch jobs that hold nodes until their walltime, for workers to run inside.

:class:`Allocations` is the plug-in point (submit, poll, cancel, describe nodes); Slurm is the
first implementation. Every command goes through the :class:`~hpcdask.shell.Shell` seam.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from distributed.comm.addressing import get_address_host_port

from hpcdask.backends.jobqueue.systems.slurm import SlurmDialect, parse_time_left
from hpcdask.jobs import JobState
from hpcdask.pilot.slots import Node
from hpcdask.shell import Shell

__all__ = ["AllocationStatus", "Allocations", "SlurmAllocations", "parse_time_left", "watchdog"]


@dataclass(frozen=True)
class AllocationStatus:
    """One allocation as the batch system reports it."""

    id: str
    state: JobState
    nodes: tuple[str, ...] = ()
    time_left: float | None = None
    reason: str = ""


class Allocations(ABC):
    """Get, watch and give back allocations of one batch system."""

    @abstractmethod
    async def submit(self, nodes: int) -> str:
        """Request an allocation of ``nodes`` nodes; return its id (it may be pending)."""

    @abstractmethod
    async def poll(self, ids: Sequence[str]) -> dict[str, AllocationStatus]:
        """Return the status of each of ``ids`` (an id that is gone is reported ended)."""

    @abstractmethod
    async def cancel(self, ids: Sequence[str]) -> None:
        """Give ``ids`` back to the batch system."""

    @abstractmethod
    async def describe(self, nodes: Sequence[str]) -> list[Node]:
        """Return the cores, memory and address of each node."""

    def watch(self, scheduler: str, timeout: float) -> None:  # noqa: B027 (an optional hook)
        """Make allocations requested from now on end by themselves once ``scheduler`` has
        not answered for ``timeout`` seconds, so that no allocation outlives its cluster."""


def watchdog(scheduler: str, timeout: float) -> str:
    """Return the batch script that holds an allocation while ``scheduler`` answers.

    It tries a TCP connection every few seconds (bash's ``/dev/tcp``: nothing to install on
    the nodes) and exits, ending the allocation, after ``timeout`` seconds without an answer.

    Examples
    --------
    >>> print(watchdog("tls://10.0.0.1:8786", 60))  # doctest: +NORMALIZE_WHITESPACE
    exec bash -c 'last=$SECONDS; while :; do if (exec 3<>/dev/tcp/10.0.0.1/8786) 2>/dev/null;
    then last=$SECONDS; elif [ $((SECONDS - last)) -ge 60 ]; then exit 0; fi; sleep 5; done'
    """
    host, port = get_address_host_port(scheduler)
    every = max(1, min(5, int(timeout // 3)))
    loop = (
        f"last=$SECONDS; while :; do if (exec 3<>/dev/tcp/{host}/{port}) "
        f"2>/dev/null; then last=$SECONDS; elif [ $((SECONDS - last)) -ge {int(timeout)} ]; "
        f"then exit 0; fi; sleep {every}; done"
    )
    return f"exec bash -c '{loop}'"


#: Slurm's commands and their output, as the batch family reads them.
_SLURM = SlurmDialect()


@dataclass
class SlurmAllocations(Allocations):
    """Slurm allocations: ``sbatch --wrap`` holding the nodes, ``squeue``, ``scancel``.

    The commands and the parsing of ``squeue`` are the Slurm dialect's (the batch family's),
    with the time left of each allocation besides.
    """

    shell: Shell
    walltime: str
    partition: str | None = None
    account: str | None = None
    directives: tuple[str, ...] = ()
    job_name: str = "hpcdask-pilot"
    timeout: float = 30.0
    script: str = "exec sleep infinity"

    def watch(self, scheduler: str, timeout: float) -> None:
        self.script = watchdog(scheduler, timeout)

    def command(self, nodes: int) -> list[str]:
        """Return the ``sbatch`` command that requests an allocation of ``nodes`` nodes.

        Examples
        --------
        >>> from hpcdask.shell import SubprocessShell
        >>> SlurmAllocations(SubprocessShell(), "01:00:00", partition="debug").command(2)[2:6]
        ['--job-name=hpcdask-pilot', '--nodes=2', '--time=01:00:00', '--output=/dev/null']
        """
        command = [
            *_SLURM.submit,
            f"--job-name={self.job_name}",
            f"--nodes={nodes}",
            f"--time={self.walltime}",
            "--output=/dev/null",
            "--exclusive",
        ]
        command += [f"--partition={self.partition}"] if self.partition else []
        command += [f"--account={self.account}"] if self.account else []
        return [*command, *self.directives, f"--wrap={self.script}"]

    async def submit(self, nodes: int) -> str:
        result = await self.shell.run(self.command(nodes), timeout=self.timeout)
        return result.stdout.strip().split(";")[0]

    async def poll(self, ids: Sequence[str]) -> dict[str, AllocationStatus]:
        if not ids:
            return {}
        command = _SLURM.squeue(ids, time_left=True)
        result = await self.shell.run(command, timeout=self.timeout, check=False)
        found = {}
        for job in _SLURM.squeue_lines(result.stdout, time_left=True):
            running = job.state is JobState.RUNNING
            names = await self._hostnames(job.nodes) if running else ()
            found[job.job_id] = AllocationStatus(
                job.job_id, job.state, names, job.time_left, job.reason
            )
        gone = {i: AllocationStatus(i, JobState.UNKNOWN) for i in ids if i not in found}
        return {**gone, **found}

    async def _hostnames(self, nodelist: str) -> tuple[str, ...]:
        if not nodelist:
            return ()
        result = await self.shell.run(
            ["scontrol", "show", "hostnames", nodelist], timeout=self.timeout
        )
        return tuple(result.stdout.split())

    async def cancel(self, ids: Sequence[str]) -> None:
        if ids:
            await self.shell.run(_SLURM.cancel_command(ids), timeout=self.timeout, check=False)

    async def describe(self, nodes: Sequence[str]) -> list[Node]:
        result = await self.shell.run(
            ["scontrol", "show", "node", "--oneliner", ",".join(nodes)], timeout=self.timeout
        )
        described = []
        for line in result.stdout.splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            described.append(
                Node(
                    fields["NodeName"],
                    int(fields.get("CPUTot", 1)),
                    int(fields.get("RealMemory", 0)) * 2**20,
                    fields.get("NodeAddr", fields["NodeName"]),
                )
            )
        return described
