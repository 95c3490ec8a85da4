"""Grid Engine: ``qsub -terse``, ``qstat -xml``, ``qdel``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from hpcdask.backends._dialects.base import Dialect
from hpcdask.jobs import JobInfo, JobState
from hpcdask.shell import CommandResult

__all__ = ["SGEDialect"]


class SGEDialect(Dialect):
    """Grid Engine. ``qstat`` forgets a job as soon as it ends."""

    system = "Grid Engine"
    submit = ("qsub", "-terse")
    status = ("qstat", "-xml")
    cancel = ("qdel",)
    job_id_pattern = r"^\s*(\d+)"

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
