"""PBS Pro and Torque (``qsub``, ``qstat -f``, ``qdel``), and Moab (``msub``, ``checkjob``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from hpcdask.backends._dialects.base import Dialect, state_from
from hpcdask.jobs import JobInfo, JobState
from hpcdask.shell import CommandResult

__all__ = ["MoabDialect", "PBSDialect"]

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
    submit: ClassVar[tuple[str, ...]] = ("qsub",)
    status: ClassVar[tuple[str, ...]] = ("qstat", "-f")
    cancel: ClassVar[tuple[str, ...]] = ("qdel",)
    job_id_pattern = r"^\s*(\d+(?:\.\S+)?)\s*$"

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
    submit = ("msub",)
    status = ("checkjob",)
    cancel = ("canceljob",)
    job_id_pattern = r"^\s*(\S+)\s*$"

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
