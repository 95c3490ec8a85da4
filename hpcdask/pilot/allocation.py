"""Allocations: batch jobs that hold nodes until their walltime, for workers to run inside.

:class:`Allocations` is the plug-in point (submit, poll, cancel, describe nodes); Slurm is the
first implementation. Every command goes through the :class:`~hpcdask.shell.Shell` seam.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from hpcdask.backends.jobqueue.dialect import state_from
from hpcdask.backends.jobqueue.systems.slurm import STATES as SLURM_STATES
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
    from distributed.comm.addressing import get_address_host_port

    host, port = get_address_host_port(scheduler)
    every = max(1, min(5, int(timeout // 3)))
    loop = (
        f"last=$SECONDS; while :; do if (exec 3<>/dev/tcp/{host}/{port}) "
        f"2>/dev/null; then last=$SECONDS; elif [ $((SECONDS - last)) -ge {int(timeout)} ]; "
        f"then exit 0; fi; sleep {every}; done"
    )
    return f"exec bash -c '{loop}'"


def parse_time_left(text: str) -> float | None:
    """Return the seconds in Slurm's ``%L`` (``D-HH:MM:SS``, ``HH:MM:SS``, ``MM:SS``).

    Examples
    --------
    >>> parse_time_left("1-00:00:05"), parse_time_left("02:00"), parse_time_left("UNLIMITED")
    (86405.0, 120.0, None)
    """
    days, _, clock = text.strip().rpartition("-")
    parts = clock.split(":")
    if (
        not all(p.isdigit() for p in parts)
        or not 1 <= len(parts) <= 3
        or (days and not days.isdigit())
    ):
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return float(seconds + int(days or 0) * 86400)


@dataclass
class SlurmAllocations(Allocations):
    """Slurm allocations: ``sbatch --wrap`` holding the nodes, ``squeue``, ``scancel``."""

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
            "sbatch",
            "--parsable",
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
        command = [
            "squeue",
            "--noheader",
            "--states=all",
            "--format=%i|%T|%r|%N|%L",
            f"--jobs={','.join(ids)}",
        ]
        result = await self.shell.run(command, timeout=self.timeout, check=False)
        found = {}
        for line in result.stdout.splitlines():
            job, word, reason, nodelist, left = (line.strip().split("|") + [""] * 5)[:5]
            state = state_from(SLURM_STATES, word, JobState.FAILED)
            names = await self._hostnames(nodelist) if state is JobState.RUNNING else ()
            found[job] = AllocationStatus(
                job, state, names, parse_time_left(left), "" if reason == "None" else reason
            )
        gone = {i: AllocationStatus(i, JobState.UNKNOWN) for i in ids if i not in found}
        return {**gone, **found}

    async def _hostnames(self, nodelist: str) -> tuple[str, ...]:
        if not nodelist or nodelist == "(null)":
            return ()
        result = await self.shell.run(
            ["scontrol", "show", "hostnames", nodelist], timeout=self.timeout
        )
        return tuple(result.stdout.split())

    async def cancel(self, ids: Sequence[str]) -> None:
        if ids:
            await self.shell.run(["scancel", *ids], timeout=self.timeout, check=False)

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
