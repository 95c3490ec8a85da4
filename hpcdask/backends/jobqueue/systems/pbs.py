"""PBS Pro and Torque: ``qsub``, ``qstat -f``, ``qdel``; ``select=`` resource specs."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from hpcdask.backends.jobqueue.args import dask_jobqueue
from hpcdask.backends.jobqueue.cluster import BatchCluster
from hpcdask.backends.jobqueue.dialect import Dialect, jobqueue_command, state_from
from hpcdask.backends.jobqueue.jobs import BookedJob, LogDirectoryLater
from hpcdask.backends.jobqueue.system import System
from hpcdask.jobs import JobInfo, JobState
from hpcdask.models import PBSResource
from hpcdask.shell import CommandResult

__all__ = ["PBS", "PBSBatchCluster", "PBSDialect", "PBSWorkerJob"]

_jq: Any = dask_jobqueue()  # untyped: seen as Any, so hpcdask's own code stays typed

_PBS_STATES = {
    **dict.fromkeys(["Q", "W", "H", "T", "S", "M", "U"], JobState.PENDING),
    **dict.fromkeys(["R", "E", "B", "X"], JobState.RUNNING),
}
_PBS_HOW = {"H": "held", "W": "waiting for its start time", "S": "suspended"}
#: Exit statuses PBS Pro (-29) and Torque (-11) give a job killed at its walltime.
_WALLTIME_EXITS = frozenset({"-29", "-11"})


class PBSDialect(Dialect):
    """PBS Pro and Torque. Finished jobs show as C (Torque) or F (PBS Pro) for a while."""

    system = "PBS"
    submit: ClassVar[tuple[str, ...]] = jobqueue_command(_jq.pbs.PBSJob.submit_command)
    status: ClassVar[tuple[str, ...]] = ("qstat", "-f")
    cancel: ClassVar[tuple[str, ...]] = jobqueue_command(_jq.pbs.PBSJob.cancel_command)
    job_id_pattern = r"^\s*(\d+(?:\.\S+)?)\s*$"
    busy_words: ClassVar[tuple[str, ...]] = (
        "cannot connect to server",
        "pbs_iff: cannot",
        "communication failure",
        "server is busy",
    )

    def only_unknown_jobs(self, result: CommandResult) -> bool:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        return bool(lines) and all("Unknown Job Id" in line for line in lines)

    def parse_jobs(self, stdout: str) -> dict[str, JobInfo]:
        jobs = {}
        for block in re.split(r"^(?=Job Id:)", stdout, flags=re.MULTILINE):
            fields = dict(re.findall(r"^\s+(\w+) = (.*)$", block, flags=re.MULTILINE))
            head = re.match(r"Job Id:\s*(\S+)", block)
            if head is None or "job_state" not in fields:
                continue
            job_id, word = head.group(1), fields["job_state"].strip()
            state, reason = _pbs_state(word, fields)
            nodes = fields.get("exec_host", "").split("/")[0]
            jobs[job_id] = JobInfo(job_id, state, reason, nodes)
        return jobs


def _pbs_state(word: str, fields: dict[str, str]) -> tuple[JobState, str]:
    if word in ("C", "F"):
        code = fields.get("Exit_status", "").strip()
        if code == "0":
            return JobState.FINISHED, ""
        if code in _WALLTIME_EXITS:
            return JobState.TIMEOUT, f"exit status {code}"
        return JobState.FAILED, f"exit status {code or 'unknown'}"
    state = state_from(_PBS_STATES, word, JobState.UNKNOWN)
    reason = _PBS_HOW.get(word, "")
    comment = fields.get("comment", "").strip()
    if comment and state is JobState.PENDING:
        reason = f"{reason}: {comment}" if reason else comment
    return state, reason


class PBSWorkerJob(BookedJob, _jq.pbs.PBSJob, LogDirectoryLater):  # type: ignore[misc]
    """A PBS worker job."""


class PBSBatchCluster(BatchCluster, _jq.PBSCluster):  # type: ignore[misc]
    """Dask workers in PBS jobs."""

    job_cls = PBSWorkerJob


class PBS(System[PBSResource]):
    """PBS Pro and Torque: GPUs go into the ``select=`` resource spec hpcdask writes."""

    dialect_class = PBSDialect
    job_class = PBSWorkerJob
    cluster_class = PBSBatchCluster
    queue_query = ("qstat", "-Q")

    def keywords(self, resource: PBSResource, gpus: int) -> dict[str, Any]:
        return {**super().keywords(resource, gpus), "account": resource.account,
                "resource_spec": self.resource_spec(resource, gpus)}  # fmt: skip

    @staticmethod
    def resource_spec(resource: PBSResource, gpus: int) -> str | None:
        """Return the resource spec, requesting the GPUs when hpcdask writes the spec."""
        if resource.resource_spec or not gpus:
            return resource.resource_spec
        memory = _jq.pbs.pbs_format_bytes_ceil(resource.worker.memory or 0)
        return f"select=1:ncpus={resource.worker.cores}:mem={memory}:ngpus={gpus}"
