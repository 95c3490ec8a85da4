"""Moab over PBS/Torque: ``msub``, ``checkjob`` (one job per call), ``canceljob``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from hpcdask.backends.jobqueue.args import dask_jobqueue
from hpcdask.backends.jobqueue.cluster import BatchCluster
from hpcdask.backends.jobqueue.dialect import jobqueue_command, state_from
from hpcdask.backends.jobqueue.jobs import BookedJob, LogDirectoryLater
from hpcdask.backends.jobqueue.systems.pbs import PBS, PBSDialect
from hpcdask.jobs import JobInfo, JobState
from hpcdask.shell import CommandResult

__all__ = ["Moab", "MoabBatchCluster", "MoabDialect", "MoabWorkerJob"]

_jq: Any = dask_jobqueue()  # untyped: seen as Any, so hpcdask's own code stays typed

_MOAB_STATES = {
    **dict.fromkeys(
        ["IDLE", "HOLD", "USERHOLD", "SYSTEMHOLD", "BATCHHOLD", "DEFERRED", "BLOCKED",
         "NOTQUEUED", "SUSPENDED", "STAGING"],
        JobState.PENDING,
    ),
    **dict.fromkeys(["STARTING", "RUNNING"], JobState.RUNNING),
    "COMPLETED": JobState.FINISHED,
    "REMOVED": JobState.CANCELLED,
    "VACATED": JobState.FAILED,
}  # fmt: skip


class MoabDialect(PBSDialect):
    """Moab over PBS/Torque: ``msub`` and ``canceljob``; state from ``checkjob``, per job."""

    system = "Moab"
    submit = jobqueue_command(_jq.moab.MoabJob.submit_command)
    status = ("checkjob",)
    cancel = jobqueue_command(_jq.moab.MoabJob.cancel_command)
    job_id_pattern = r"^\s*(\S+)\s*$"
    busy_words: ClassVar[tuple[str, ...]] = (
        "cannot connect to moab",
        "moab server is not responding",
        "communication error",
    )

    def status_commands(self, job_ids: Sequence[str]) -> list[list[str]]:
        return [[*self.status, job_id] for job_id in job_ids]

    def only_unknown_jobs(self, result: CommandResult) -> bool:
        return "cannot locate job" in (result.stdout + result.stderr)

    def parse_jobs(self, stdout: str) -> dict[str, JobInfo]:
        job = re.search(r"^job\s+(\S+)", stdout, flags=re.MULTILINE | re.IGNORECASE)
        word = re.search(r"^State:\s*(\w+)", stdout, flags=re.MULTILINE)
        if job is None or word is None:
            return {}
        state = state_from(_MOAB_STATES, word.group(1), JobState.UNKNOWN)
        code = re.search(r"Completion Code:\s*(-?\d+)", stdout)
        reason = "" if state is JobState.RUNNING else word.group(1)
        if state is JobState.FINISHED and code and code.group(1) != "0":
            state, reason = JobState.FAILED, f"completion code {code.group(1)}"
        return {job.group(1): JobInfo(job.group(1), state, reason)}


class MoabWorkerJob(BookedJob, _jq.moab.MoabJob, LogDirectoryLater):  # type: ignore[misc]
    """A Moab worker job."""


class MoabBatchCluster(BatchCluster, _jq.MoabCluster):  # type: ignore[misc]
    """Dask workers in Moab jobs."""

    job_cls = MoabWorkerJob


class Moab(PBS):
    """Moab: PBS's job keywords and queue check, Moab's own commands."""

    dialect_class = MoabDialect
    job_class = MoabWorkerJob
    cluster_class = MoabBatchCluster
