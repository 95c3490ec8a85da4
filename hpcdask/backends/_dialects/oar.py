"""OAR: ``oarsub`` with an inline script, ``oarstat -s``, ``oardel``."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from hpcdask.backends._dialects.base import Dialect, Submission, state_from
from hpcdask.jobs import JobInfo, JobState

__all__ = ["OARDialect"]

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
    submit = ("oarsub",)
    status = ("oarstat", "-s")
    cancel = ("oardel",)
    job_id_pattern = r"OAR_JOB_ID=(\d+)"

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
