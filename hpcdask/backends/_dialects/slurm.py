"""Slurm: ``sbatch --parsable``, ``squeue -t all``, ``scancel``."""

from __future__ import annotations

from collections.abc import Sequence

from hpcdask.backends._dialects.base import Dialect, state_from
from hpcdask.jobs import JobInfo, JobState
from hpcdask.shell import CommandResult

__all__ = ["SlurmDialect"]

_STATES = {
    **dict.fromkeys(
        ["PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD",
         "SUSPENDED", "STOPPED"],
        JobState.PENDING,
    ),
    **dict.fromkeys(
        ["RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING"], JobState.RUNNING
    ),
    "COMPLETED": JobState.FINISHED,
    "TIMEOUT": JobState.TIMEOUT,
    "CANCELLED": JobState.CANCELLED,
    "REVOKED": JobState.CANCELLED,
}  # fmt: skip
#: States whose name says nothing more than hpcdask's own state name.
_PLAIN = frozenset({"PENDING", "RUNNING", "COMPLETED", "TIMEOUT", "CANCELLED"})


class SlurmDialect(Dialect):
    """Slurm. ``squeue -t all`` still lists jobs that ended less than ``MinJobAge`` ago."""

    system = "Slurm"
    submit = ("sbatch", "--parsable")
    status = ("squeue", "--noheader", "--states=all", "--format=%i|%T|%r|%N")
    cancel = ("scancel",)

    def status_commands(self, job_ids: Sequence[str]) -> list[list[str]]:
        return [[*self.status, f"--jobs={','.join(job_ids)}"]]

    def only_unknown_jobs(self, result: CommandResult) -> bool:
        # squeue fails when none of the ids is known any more (all purged after MinJobAge).
        return "Invalid job id specified" in result.stderr

    def parse_jobs(self, stdout: str) -> dict[str, JobInfo]:
        jobs = {}
        for line in stdout.splitlines():
            fields = line.strip().split("|")
            if len(fields) != 4:
                continue
            job_id, word, reason, nodes = fields
            state = state_from(_STATES, word, JobState.FAILED)
            reason = "" if reason in ("None", "(null)") else reason
            if word not in _PLAIN:
                reason = f"{word}: {reason}" if reason else word
            jobs[job_id] = JobInfo(job_id, state, reason, "" if nodes == "(null)" else nodes)
        return jobs
