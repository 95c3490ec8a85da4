"""OAR: ``oarsub`` with an inline script, ``oarstat -s``, ``oardel``."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Any, ClassVar

from hpcdask.backends.base import Check, Status
from hpcdask.backends.jobqueue.args import dask_jobqueue
from hpcdask.backends.jobqueue.cluster import BatchCluster
from hpcdask.backends.jobqueue.dialect import Dialect, Submission, jobqueue_command, state_from
from hpcdask.backends.jobqueue.jobs import BookedJob, LogDirectoryLater
from hpcdask.backends.jobqueue.system import System
from hpcdask.jobs import JobInfo, JobState
from hpcdask.models import OARResource

__all__ = ["OAR", "OARBatchCluster", "OARDialect", "OARWorkerJob"]

_jq: Any = dask_jobqueue()  # untyped: seen as Any, so hpcdask's own code stays typed

_STATES = {
    **dict.fromkeys(["WAITING", "HOLD", "TOACKRESERVATION", "SUSPENDED"], JobState.PENDING),
    **dict.fromkeys(
        ["TOLAUNCH", "LAUNCHING", "RUNNING", "RESUMING", "FINISHING"], JobState.RUNNING
    ),
    "TERMINATED": JobState.FINISHED,
    "ERROR": JobState.FAILED,
    "TOERROR": JobState.FAILED,
}


class OARDialect(Dialect):
    """OAR. The script runs from the command line (OAR reads it on the node, not at submit)."""

    system = "OAR"
    submit = jobqueue_command(_jq.oar.OARJob.submit_command)
    status = ("oarstat", "-s")
    cancel = jobqueue_command(_jq.oar.OARJob.cancel_command)
    job_id_pattern = r"OAR_JOB_ID=(\d+)"
    busy_words: ClassVar[tuple[str, ...]] = (
        "could not connect",
        "cannot connect to the oar server",
        "database is locked",
    )

    def submission(self, script: str, path: str | None = None) -> Submission:
        """Turn ``#OAR`` lines into options and the rest into the inline command."""
        lines = script.splitlines()
        options = [
            arg for line in lines if line.startswith("#OAR ") for arg in shlex.split(line[5:])
        ]
        body = "\n".join(line for line in lines if not line.startswith("#"))
        return [*self.submit, *options, body.strip() + "\n"], None

    def status_commands(self, job_ids: Sequence[str]) -> list[list[str]]:
        return [[*self.status, "-j", job_id] for job_id in job_ids]

    def parse_jobs(self, stdout: str) -> dict[str, JobInfo]:
        jobs = {}
        for job_id, word in re.findall(r"^(\d+):\s*(\w+)", stdout, flags=re.MULTILINE):
            state = state_from(_STATES, word, JobState.UNKNOWN)
            reason = "" if state is JobState.RUNNING else word
            jobs[job_id] = JobInfo(job_id, state, reason)
        return jobs


class OARWorkerJob(BookedJob, _jq.oar.OARJob, LogDirectoryLater):  # type: ignore[misc]
    """An OAR worker job."""


class OARBatchCluster(BatchCluster, _jq.OARCluster):  # type: ignore[misc]
    """Dask workers in OAR jobs."""

    job_cls = OARWorkerJob


class OAR(System[OARResource]):
    """OAR: GPUs go into the resource spec hpcdask writes (``/nodes=1/gpu=N``); the queue
    cannot be checked; memory is reserved only through ``memory-per-core-property-name``."""

    dialect_class = OARDialect
    job_class = OARWorkerJob
    cluster_class = OARBatchCluster

    def keywords(self, resource: OARResource, gpus: int) -> dict[str, Any]:
        spec = resource.resource_spec
        if not spec and gpus:
            spec = f"/nodes=1/gpu={gpus}"
        return {**super().keywords(resource, gpus), "project": resource.account,
                "resource_spec": spec, "memory_per_core_property_name":
                    resource.memory_per_core_property_name or "not_applicable"}  # fmt: skip

    def checks(self, resource: OARResource) -> list[Check]:
        if resource.memory_per_core_property_name:
            return []
        return [Check("memory", Status.WARNING, "memory-per-core-property-name is not "
                      "set: OAR will not reserve memory for the workers")]  # fmt: skip
