"""Slurm: ``sbatch --parsable``, ``squeue -t all``, ``scancel``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hpcdask.backends.jobqueue.args import dask_jobqueue
from hpcdask.backends.jobqueue.cluster import BatchCluster
from hpcdask.backends.jobqueue.dialect import Dialect, state_from
from hpcdask.backends.jobqueue.jobs import BookedJob, LogDirectoryLater
from hpcdask.backends.jobqueue.system import System
from hpcdask.jobs import JobInfo, JobState
from hpcdask.models import SlurmResource
from hpcdask.shell import CommandResult

_jq: Any = dask_jobqueue()  # untyped: seen as Any, so hpcdask's own code stays typed

__all__ = ["STATES", "Slurm", "SlurmBatchCluster", "SlurmDialect", "SlurmWorkerJob"]

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


class SlurmDialect(Dialect):
    """Slurm. ``squeue -t all`` still lists jobs that ended less than ``MinJobAge`` ago."""

    system = "Slurm"
    submit = ("sbatch", "--parsable")
    status = ("squeue", "--noheader", "--states=all", "--format=%i|%T|%r|%N")
    cancel = ("scancel",)

    def status_commands(self, job_ids: Sequence[str]) -> list[list[str]]:
        return [[*self.status, f"--jobs={','.join(job_ids)}"]]

    def only_unknown_jobs(self, result: CommandResult) -> bool:
        # squeue fails when none of the ids is known any more (all purged after MinJobAge).
        return "Invalid job id specified" in result.stderr

    def parse_jobs(self, stdout: str) -> dict[str, JobInfo]:
        jobs = {}
        for line in stdout.splitlines():
            fields = line.strip().split("|")
            if len(fields) != 4:
                continue
            job_id, word, reason, nodes = fields
            state = state_from(STATES, word, JobState.FAILED)
            reason = "" if reason in ("None", "(null)") else reason
            if word not in _PLAIN:
                reason = f"{word}: {reason}" if reason else word
            jobs[job_id] = JobInfo(job_id, state, reason, "" if nodes == "(null)" else nodes)
        return jobs


class SlurmWorkerJob(BookedJob, _jq.slurm.SLURMJob, LogDirectoryLater):  # type: ignore[misc]
    """A Slurm worker job."""


class SlurmBatchCluster(BatchCluster, _jq.SLURMCluster):  # type: ignore[misc]
    """Dask workers in Slurm jobs."""

    job_cls = SlurmWorkerJob


class Slurm(System[SlurmResource]):
    """Slurm: ``--gres=gpu:N``; ``job-mem`` rounded up to what Slurm reads."""

    dialect_class = SlurmDialect
    job_class = SlurmWorkerJob
    cluster_class = SlurmBatchCluster
    queue_listing = ("sinfo", "--noheader", "--format=%R")
    test_submit = ("sbatch", "--test-only")

    def keywords(self, resource: SlurmResource, gpus: int) -> dict[str, Any]:
        job_mem = None
        if resource.job_mem:
            job_mem = _jq.slurm.slurm_format_bytes_ceil(resource.job_mem)
        return {**super().keywords(resource, gpus), "account": resource.account,
                "job_cpu": resource.job_cpu, "job_mem": job_mem}  # fmt: skip

    def gpu_directive(self, gpus: int) -> str | None:
        return f"--gres=gpu:{gpus}"
