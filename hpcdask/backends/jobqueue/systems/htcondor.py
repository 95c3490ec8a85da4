"""HTCondor: ``condor_submit -``, ``condor_q -af:j``, ``condor_rm``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from hpcdask.backends.jobqueue.args import dask_jobqueue
from hpcdask.backends.jobqueue.cluster import BatchCluster
from hpcdask.backends.jobqueue.dialect import Dialect, Submission, jobqueue_command
from hpcdask.backends.jobqueue.jobs import BookedJob, LogDirectoryLater
from hpcdask.backends.jobqueue.system import System
from hpcdask.jobs import JobInfo, JobState
from hpcdask.models import HTCondorResource
from hpcdask.shell import CommandResult

__all__ = ["HTCondor", "HTCondorBatchCluster", "HTCondorDialect", "HTCondorWorkerJob"]

_jq: Any = dask_jobqueue()  # untyped: seen as Any, so hpcdask's own code stays typed

#: HTCondor's numeric JobStatus.
_STATES = {
    "1": (JobState.PENDING, ""),
    "2": (JobState.RUNNING, ""),
    "3": (JobState.CANCELLED, "removed"),
    "4": (JobState.FINISHED, ""),
    "5": (JobState.PENDING, "held"),
    "6": (JobState.RUNNING, "transferring output"),
    "7": (JobState.PENDING, "suspended"),
}


@dataclass
class HTCondorDialect(Dialect):
    """HTCondor. Job ids are ``cluster.proc``; one job per cluster here.

    ``submit_extra`` and ``cancel_extra`` (dask-jobqueue's ``submit-command-extra`` and
    ``cancel-command-extra``) follow ``condor_submit`` and ``condor_rm``.
    """

    submit_extra: tuple[str, ...] = ()
    cancel_extra: tuple[str, ...] = ()

    system = "HTCondor"
    # "-": condor_submit reads the submit description from its standard input, not a file.
    submit = jobqueue_command(_jq.htcondor.HTCondorJob.submit_command, "-")
    status = ("condor_q",)
    cancel = jobqueue_command(_jq.htcondor.HTCondorJob.cancel_command)
    job_id_pattern = r"submitted to cluster (\d+)"
    busy_words: ClassVar[tuple[str, ...]] = (
        "failed to connect to",
        "can't find address of local schedd",
        "cedar:6001",
        "secman:2007",
    )

    def submission(self, script: str, path: str | None = None) -> Submission:
        command, stdin = super().submission(script, path)
        return [command[0], *self.submit_extra, *command[1:]], stdin

    def cancel_command(self, job_ids: Sequence[str]) -> list[str]:
        return [*self.cancel, *self.cancel_extra, *job_ids]

    def job_id(self, result: CommandResult) -> str:
        return super().job_id(result) + ".0"

    def status_commands(self, job_ids: Sequence[str]) -> list[list[str]]:
        return [[*self.status, *job_ids, "-af:j", "JobStatus", "RemoteHost", "HoldReason"]]

    def parse_jobs(self, stdout: str) -> dict[str, JobInfo]:
        jobs = {}
        for line in stdout.splitlines():
            fields = line.split(None, 3)
            if len(fields) < 3 or fields[1] not in _STATES:
                continue
            job_id, code, host = fields[:3]
            state, reason = _STATES[code]
            hold = fields[3].strip() if len(fields) == 4 else ""
            if code == "5" and hold and hold != "undefined":
                reason = f"held: {hold}"
            nodes = "" if host == "undefined" else host.rpartition("@")[2]
            jobs[job_id] = JobInfo(job_id, state, reason, nodes)
        return jobs


class HTCondorWorkerJob(BookedJob, _jq.htcondor.HTCondorJob, LogDirectoryLater):  # type: ignore[misc]
    """An HTCondor worker job."""


class HTCondorBatchCluster(BatchCluster, _jq.HTCondorCluster):  # type: ignore[misc]
    """Dask workers in HTCondor jobs."""

    job_cls = HTCondorWorkerJob


class HTCondor(System[HTCondorResource]):
    """HTCondor: directives are ``key = value`` pairs; GPUs are ``request_gpus``; no queues,
    no time limit (the walltime only retires workers); every job needs a ``disk``."""

    dialect_class = HTCondorDialect
    job_class = HTCondorWorkerJob
    cluster_class = HTCondorBatchCluster
    limits_walltime = False

    def keywords(self, resource: HTCondorResource, gpus: int) -> dict[str, Any]:
        return {"disk": resource.disk,
                "submit_command_extra": list(resource.submit_command_extra),
                "cancel_command_extra": list(resource.cancel_command_extra)}  # fmt: skip

    def dialect(self, resource: HTCondorResource) -> HTCondorDialect:
        return HTCondorDialect(
            submit_extra=tuple(resource.submit_command_extra),
            cancel_extra=tuple(resource.cancel_command_extra),
        )

    def directives(self, resource: HTCondorResource, gpus: int) -> dict[str, Any]:
        given = resource.job_extra_directives
        pairs = dict(given) if isinstance(given, Mapping) else dict(map(_pair, given))
        return {"request_gpus": gpus, **pairs} if gpus else pairs

    def missing(self, resource: HTCondorResource) -> list[str]:
        return (
            [] if resource.disk else ["disk: required to start htcondor workers (disk of one job)"]
        )


def _pair(line: str) -> tuple[str, str]:
    key, _, value = line.partition("=")
    return key.strip(), value.strip()
