"""HTCondor: ``condor_submit -``, ``condor_q -af:j``, ``condor_rm``."""

from __future__ import annotations

from collections.abc import Sequence

from hpcdask.backends._dialects.base import Dialect
from hpcdask.jobs import JobInfo, JobState
from hpcdask.shell import CommandResult

__all__ = ["HTCondorDialect"]

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


class HTCondorDialect(Dialect):
    """HTCondor. Job ids are ``cluster.proc``; one job per cluster here."""

    system = "HTCondor"
    submit = ("condor_submit", "-")
    status = ("condor_q",)
    cancel = ("condor_rm",)
    job_id_pattern = r"submitted to cluster (\d+)"

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
