"""Slurm: ``sbatch --parsable``, ``squeue -t all``, ``scancel``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from hpcdask.backends.jobqueue.args import dask_jobqueue
from hpcdask.backends.jobqueue.cluster import BatchCluster
from hpcdask.backends.jobqueue.dialect import Dialect, jobqueue_command, state_from
from hpcdask.backends.jobqueue.jobs import BookedJob, LogDirectoryLater
from hpcdask.backends.jobqueue.system import System
from hpcdask.jobs import JobInfo, JobState
from hpcdask.models import SlurmResource
from hpcdask.shell import CommandResult

_jq: Any = dask_jobqueue()  # untyped: seen as Any, so hpcdask's own code stays typed

__all__ = [
    "STATES",
    "Slurm",
    "SlurmBatchCluster",
    "SlurmDialect",
    "SlurmWorkerJob",
    "SqueueLine",
    "parse_time_left",
]

#: Slurm job state → hpcdask job state (the pilots read it too).
STATES = {
    **dict.fromkeys(
        ["PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD",
         "SUSPENDED", "STOPPED"],
        JobState.PENDING,
    ),
    **dict.fromkeys(
        ["RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING"], JobState.RUNNING
    ),
    "COMPLETED": JobState.FINISHED,
    "TIMEOUT": JobState.TIMEOUT,
    "CANCELLED": JobState.CANCELLED,
    "REVOKED": JobState.CANCELLED,
}  # fmt: skip
#: States whose name says nothing more than hpcdask's own state name.
_PLAIN = frozenset({"PENDING", "RUNNING", "COMPLETED", "TIMEOUT", "CANCELLED"})
_SQUEUE = ("squeue", "--noheader", "--states=all")
#: squeue's fields: job id, state, reason, node list (and ``%L``, time left, when asked).
_FIELDS = "%i|%T|%r|%N"


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


@dataclass(frozen=True)
class SqueueLine:
    """One job in ``squeue``'s output: Slurm's own state word and hpcdask's state for it, the
    reason (``""`` for none), the node list (``""`` before it has nodes), the time left."""

    job_id: str
    word: str
    state: JobState
    reason: str = ""
    nodes: str = ""
    time_left: float | None = None


class SlurmDialect(Dialect):
    """Slurm. ``squeue -t all`` still lists jobs that ended less than ``MinJobAge`` ago.

    The pilots' allocations are polled with the same ``squeue`` and read by the same parser,
    asking for the time left too (:meth:`squeue`, :meth:`squeue_lines`).
    """

    system = "Slurm"
    # --parsable: sbatch prints "ID[;CLUSTER]", not "Submitted batch job ID".
    submit = jobqueue_command(_jq.slurm.SLURMJob.submit_command, "--parsable")
    status = (*_SQUEUE, f"--format={_FIELDS}")
    cancel = jobqueue_command(_jq.slurm.SLURMJob.cancel_command)
    busy_words: ClassVar[tuple[str, ...]] = (
        "unable to contact slurm controller",
        "socket timed out on send/recv operation",
        "slurm temporarily unable to accept job",
        "communication connection failure",
        "slurm controller is busy",
        "resource temporarily unavailable",
    )

    def status_commands(self, job_ids: Sequence[str]) -> list[list[str]]:
        return [self.squeue(job_ids)]

    def squeue(self, job_ids: Sequence[str], time_left: bool = False) -> list[str]:
        """Return the ``squeue`` command that lists ``job_ids``, with their time left if asked.

        Examples
        --------
        >>> SlurmDialect().squeue(["7", "8"], time_left=True)[3:]
        ['--format=%i|%T|%r|%N|%L', '--jobs=7,8']
        """
        fields = f"{_FIELDS}|%L" if time_left else _FIELDS
        return [*_SQUEUE, f"--format={fields}", f"--jobs={','.join(job_ids)}"]

    def squeue_lines(self, stdout: str, time_left: bool = False) -> Iterator[SqueueLine]:
        """Yield the jobs in the output of :meth:`squeue` (asked ``time_left`` or not); a line
        without the fields asked for is skipped."""
        count = 5 if time_left else 4
        for line in stdout.splitlines():
            fields = line.strip().split("|")
            if len(fields) != count:
                continue
            job_id, word, reason, nodes = fields[:4]
            yield SqueueLine(
                job_id,
                word,
                state_from(STATES, word, JobState.FAILED),
                "" if reason in ("None", "(null)") else reason,
                "" if nodes == "(null)" else nodes,
                parse_time_left(fields[4]) if time_left else None,
            )

    def only_unknown_jobs(self, result: CommandResult) -> bool:
        # squeue fails when none of the ids is known any more (all purged after MinJobAge).
        return "Invalid job id specified" in result.stderr

    def parse_jobs(self, stdout: str) -> dict[str, JobInfo]:
        jobs = {}
        for line in self.squeue_lines(stdout):
            reason = line.reason
            if line.word not in _PLAIN:  # the state word hpcdask's state does not tell
                reason = f"{line.word}: {reason}" if reason else line.word
            jobs[line.job_id] = JobInfo(line.job_id, line.state, reason, line.nodes)
        return jobs


class SlurmWorkerJob(BookedJob, _jq.slurm.SLURMJob, LogDirectoryLater):  # type: ignore[misc]
    """A Slurm worker job."""


class SlurmBatchCluster(BatchCluster, _jq.SLURMCluster):  # type: ignore[misc]
    """Dask workers in Slurm jobs."""

    job_cls = SlurmWorkerJob


class Slurm(System[SlurmResource]):
    """Slurm: ``--gres=gpu:N``; ``job-mem`` and ``job-cpu`` reach Slurm as written."""

    dialect_class = SlurmDialect
    job_class = SlurmWorkerJob
    cluster_class = SlurmBatchCluster
    queue_listing = ("sinfo", "--noheader", "--format=%R")
    test_submit = ("sbatch", "--test-only")

    def keywords(self, resource: SlurmResource, gpus: int) -> dict[str, Any]:
        return {**super().keywords(resource, gpus), "account": resource.account,
                "job_cpu": resource.job_cpu, "job_mem": resource.job_mem}  # fmt: skip

    def gpu_directive(self, gpus: int) -> str | None:
        return f"--gres=gpu:{gpus}"
