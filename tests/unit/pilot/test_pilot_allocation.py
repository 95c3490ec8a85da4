"""Slurm allocations for pilots through the faked shell seam: commands and parsing."""

from __future__ import annotations

import asyncio

from fakeshell import FakeShell

from hpcdask.jobs import JobState
from hpcdask.models import SlurmResource
from hpcdask.pilot.allocation import AllocationStatus, SlurmAllocations
from hpcdask.pilot.settings import slurm_allocations
from hpcdask.pilot.slots import Node


def _slurm(shell: FakeShell) -> SlurmAllocations:
    return SlurmAllocations(
        shell,
        walltime="02:00:00",
        partition="gpu",
        account="proj42",
        directives=("--constraint=a100",),
        job_name="hpcdask-x",
    )


def test_submit_holds_whole_nodes_until_walltime() -> None:
    shell = FakeShell()
    shell.reply("sbatch", "1234;cluster\n")
    assert asyncio.run(_slurm(shell).submit(4)) == "1234"
    assert shell.calls[0].command == (
        "sbatch",
        "--parsable",
        "--job-name=hpcdask-x",
        "--nodes=4",
        "--time=02:00:00",
        "--output=/dev/null",
        "--exclusive",
        "--partition=gpu",
        "--account=proj42",
        "--constraint=a100",
        "--wrap=exec sleep infinity",
    )


def test_poll_reports_pending_running_timeout_and_gone() -> None:
    shell = FakeShell()
    shell.reply(
        "squeue",
        "7|PENDING|Priority|(null)|2:00:00\n8|RUNNING|None|n[1-2]|1:59:30\n"
        "9|TIMEOUT|None|n3|0:00\n",
    )
    shell.reply("scontrol", "n1\nn2\n")
    statuses = asyncio.run(_slurm(shell).poll(["7", "8", "9", "10"]))
    assert statuses == {
        "7": AllocationStatus("7", JobState.PENDING, (), 7200.0, "Priority"),
        "8": AllocationStatus("8", JobState.RUNNING, ("n1", "n2"), 7170.0, ""),
        "9": AllocationStatus("9", JobState.TIMEOUT, (), 0.0, ""),
        "10": AllocationStatus("10", JobState.UNKNOWN),
    }
    assert shell.called("scontrol")[0].command == ("scontrol", "show", "hostnames", "n[1-2]")
    assert JobState.TIMEOUT.ended and statuses["9"].state is not JobState.FAILED


def test_poll_reads_squeue_like_the_batch_family_but_keeps_slurms_reason() -> None:
    """The dialect's parser; an allocation's reason is Slurm's alone (its state is apart)."""
    shell = FakeShell()
    shell.reply(
        "squeue",
        "7|FAILED|NonZeroExitCode|n1|0:00\n8|NODE_FAIL|None|(null)|INVALID\n"
        "9|CONFIGURING|None|n[1-2]|5:00\n",
    )
    statuses = asyncio.run(_slurm(shell).poll(["7", "8", "9"]))
    assert statuses == {
        "7": AllocationStatus("7", JobState.FAILED, (), 0.0, "NonZeroExitCode"),
        "8": AllocationStatus("8", JobState.FAILED, (), None, ""),
        "9": AllocationStatus("9", JobState.PENDING, (), 300.0, ""),
    }
    assert shell.calls[0].command == (
        "squeue", "--noheader", "--states=all", "--format=%i|%T|%r|%N|%L", "--jobs=7,8,9",
    )  # fmt: skip
    assert not shell.called("scontrol")


def test_cancel_gives_allocations_back() -> None:
    shell = FakeShell()
    shell.reply("scancel", "")
    asyncio.run(_slurm(shell).cancel(["7", "8"]))
    assert shell.calls[0].command == ("scancel", "7", "8")


def test_describe_nodes() -> None:
    shell = FakeShell()
    shell.reply(
        "scontrol",
        "NodeName=n1 CPUTot=4 RealMemory=4000 NodeAddr=10.0.0.1 x=y\n"
        "NodeName=n2 CPUTot=8 RealMemory=8000 NodeAddr=10.0.0.2\n",
    )
    nodes = asyncio.run(_slurm(shell).describe(["n1", "n2"]))
    assert nodes == [
        Node("n1", 4, 4000 * 2**20, "10.0.0.1"),
        Node("n2", 8, 8000 * 2**20, "10.0.0.2"),
    ]
    assert shell.calls[0].command[-1] == "n1,n2"


def test_extra_directives_are_split_like_sbatch_lines() -> None:
    """``--begin now+20`` works in dask-jobqueue's ``#SBATCH`` lines; so it must here."""
    resource = SlurmResource(
        name="x",
        walltime="01:00:00",
        job_extra_directives=["--begin now+20", '--comment="two words"'],
        allocation={"nodes": 1},
    )
    shell = FakeShell()
    shell.reply("sbatch", "7;cluster\n")
    asyncio.run(slurm_allocations(resource, shell).submit(1))
    command = shell.calls[0].command
    assert command[-4:-1] == ("--begin", "now+20", "--comment=two words")
