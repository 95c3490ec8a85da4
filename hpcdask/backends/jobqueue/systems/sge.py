"""Grid Engine: ``qsub -terse``, ``qstat -xml``, ``qdel``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any, ClassVar

from hpcdask.backends.jobqueue.args import dask_jobqueue
from hpcdask.backends.jobqueue.cluster import BatchCluster
from hpcdask.backends.jobqueue.dialect import Dialect, jobqueue_command
from hpcdask.backends.jobqueue.jobs import BookedJob, LogDirectoryLater
from hpcdask.backends.jobqueue.system import System
from hpcdask.jobs import JobInfo, JobState
from hpcdask.models import SGEResource
from hpcdask.shell import CommandResult

__all__ = ["SGE", "SGEBatchCluster", "SGEDialect", "SGEWorkerJob"]

_jq: Any = dask_jobqueue()  # untyped: seen as Any, so hpcdask's own code stays typed


class SGEDialect(Dialect):
    """Grid Engine. ``qstat`` forgets a job as soon as it ends."""

    system = "Grid Engine"
    # -terse: qsub prints the job id alone, not 'Your job ID ("NAME") has been submitted'.
    submit = jobqueue_command(_jq.sge.SGEJob.submit_command, "-terse")
    status = ("qstat", "-xml")
    cancel = jobqueue_command(_jq.sge.SGEJob.cancel_command)
    job_id_pattern = r"^\s*(\d+)"
    busy_words: ClassVar[tuple[str, ...]] = (
        "unable to contact qmaster",
        "commlib error",
        "failed receiving gdi request",
        "can't unpack gdi request",
    )

    def status_commands(self, job_ids: Sequence[str]) -> list[list[str]]:
        return [list(self.status)]  # lists every job of the user; filtered by the caller

    def only_unknown_jobs(self, result: CommandResult) -> bool:
        return False

    def parse_jobs(self, stdout: str) -> dict[str, JobInfo]:
        jobs = {}
        for entry in ET.fromstring(stdout).iter("job_list"):
            job_id = entry.findtext("JB_job_number", "").strip()
            if job_id:
                word = entry.findtext("state", "").strip()
                queue = entry.findtext("queue_name", "") or ""
                state, reason = _sge_state(word, job_id)
                jobs[job_id] = JobInfo(job_id, state, reason, queue.partition("@")[2])
        return jobs


def _sge_state(word: str, job_id: str) -> tuple[JobState, str]:
    if "E" in word:
        return JobState.FAILED, f"error state {word} (see qstat -j {job_id})"
    if "r" in word or "t" in word:
        return JobState.RUNNING, "being deleted" if "d" in word else ""
    if "h" in word:
        return JobState.PENDING, f"held ({word})"
    if word in ("qw", ""):
        return JobState.PENDING, ""
    return JobState.PENDING, word


class SGEWorkerJob(BookedJob, _jq.sge.SGEJob, LogDirectoryLater):  # type: ignore[misc]
    """A Grid Engine worker job."""


class SGEBatchCluster(BatchCluster, _jq.SGECluster):  # type: ignore[misc]
    """Dask workers in Grid Engine jobs."""

    job_cls = SGEWorkerJob


class SGE(System[SGEResource]):
    """Grid Engine: ``-l gpu=N``; the ``account`` is Grid Engine's project (``-P``)."""

    dialect_class = SGEDialect
    job_class = SGEWorkerJob
    cluster_class = SGEBatchCluster
    queue_listing = ("qconf", "-sql")
    test_submit = ("qsub", "-w", "v")

    def keywords(self, resource: SGEResource, gpus: int) -> dict[str, Any]:
        return {**super().keywords(resource, gpus), "project": resource.account,
                "resource_spec": resource.resource_spec}  # fmt: skip

    def gpu_directive(self, gpus: int) -> str | None:
        return f"-l gpu={gpus}"
