"""IBM Spectrum LSF: ``bsub``, ``bjobs -a -o``, ``bkill``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from hpcdask._model import walltime_seconds
from hpcdask.backends.jobqueue.args import dask_jobqueue
from hpcdask.backends.jobqueue.cluster import BatchCluster
from hpcdask.backends.jobqueue.dialect import Dialect, jobqueue_command, state_from
from hpcdask.backends.jobqueue.jobs import BookedJob, LogDirectoryLater
from hpcdask.backends.jobqueue.system import System
from hpcdask.jobs import JobInfo, JobState
from hpcdask.models import LSFResource
from hpcdask.shell import CommandResult

__all__ = ["LSF", "LSFBatchCluster", "LSFDialect", "LSFWorkerJob"]

_jq: Any = dask_jobqueue()  # untyped: seen as Any, so hpcdask's own code stays typed

_FIELDS = "jobid stat exit_code exit_reason exec_host pend_reason"
_STATES = {
    "PEND": JobState.PENDING,
    "PSUSP": JobState.PENDING,
    "WAIT": JobState.PENDING,
    "RUN": JobState.RUNNING,
    "USUSP": JobState.RUNNING,
    "SSUSP": JobState.RUNNING,
    "PROV": JobState.RUNNING,
    "DONE": JobState.FINISHED,
    "EXIT": JobState.FAILED,
}


@dataclass
class LSFDialect(Dialect):
    """LSF. ``use_stdin`` feeds the script to ``bsub``'s standard input (else a file)."""

    use_stdin: bool = True
    busy_words: ClassVar[tuple[str, ...]] = (
        "lsf is processing your request",
        "batch system daemon not responding",
        "cannot connect to lsf",
        "lsf is down",
        "lim is down",
        "master lim is down",
    )

    system = "LSF"
    submit = jobqueue_command(_jq.lsf.LSFJob.submit_command)
    status = ("bjobs", "-a", "-noheader", "-o", f"{_FIELDS} delimiter='|'")
    cancel = jobqueue_command(_jq.lsf.LSFJob.cancel_command)
    job_id_pattern = r"Job <(\d+)>"

    def needs_file(self) -> bool:
        return not self.use_stdin

    def only_unknown_jobs(self, result: CommandResult) -> bool:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        return bool(lines) and all("is not found" in line for line in lines)

    def parse_jobs(self, stdout: str) -> dict[str, JobInfo]:
        jobs = {}
        for line in stdout.splitlines():
            fields = [field.strip() for field in line.split("|")]
            if len(fields) != 6:
                continue
            job_id, word, code, why, host, pending = fields
            state = state_from(_STATES, word, JobState.UNKNOWN)
            reason = pending if state is JobState.PENDING and pending != "-" else ""
            if word == "EXIT":
                state, reason = _exit_state(code, why)
            nodes = "" if host == "-" else host.split(":")[0].partition("*")[2] or host
            jobs[job_id] = JobInfo(job_id, state, reason, nodes)
        return jobs


def _exit_state(code: str, why: str) -> tuple[JobState, str]:
    why = "" if why == "-" else why
    if "RUNLIMIT" in why:
        return JobState.TIMEOUT, why
    if "TERM_OWNER" in why:
        return JobState.CANCELLED, why
    return JobState.FAILED, why or f"exit code {code}"


class LSFWorkerJob(BookedJob, _jq.lsf.LSFJob, LogDirectoryLater):  # type: ignore[misc]
    """An LSF worker job."""


class LSFBatchCluster(BatchCluster, _jq.LSFCluster):  # type: ignore[misc]
    """Dask workers in LSF jobs."""

    job_cls = LSFWorkerJob


class LSF(System[LSFResource]):
    """LSF: ``-gpu "num=N"``; walltime in ``[hours:]minutes``; ``account`` is ``-P``."""

    dialect_class = LSFDialect
    job_class = LSFWorkerJob
    cluster_class = LSFBatchCluster
    queue_query = ("bqueues",)

    def dialect(self, resource: LSFResource) -> LSFDialect:
        return LSFDialect(use_stdin=resource.use_stdin)

    def keywords(self, resource: LSFResource, gpus: int) -> dict[str, Any]:
        return {**super().keywords(resource, gpus), "project": resource.account,
                "walltime": _lsf_walltime(resource), "ncpus": resource.ncpus,
                "mem": resource.mem, "lsf_units": resource.lsf_units,
                "use_stdin": resource.use_stdin}  # fmt: skip

    def gpu_directive(self, gpus: int) -> str | None:
        return f'-gpu "num={gpus}"'


def _lsf_walltime(resource: LSFResource) -> str | None:
    """LSF takes ``[hours:]minutes``."""
    walltime = resource.job_walltime()
    if walltime is None:
        return None
    minutes = math.ceil(walltime_seconds(walltime) / 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
