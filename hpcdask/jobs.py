"""Batch jobs as hpcdask reports them: one state vocabulary for every batch system.

A batch cluster's ``jobs`` maps job ids to :class:`JobInfo`; its states come from polling the
batch system (``squeue``, ``qstat``, ``bjobs``, ``condor_q``, ``oarstat``…), so a queued job
shows as PENDING, never as a running worker.

Examples
--------
>>> JobState.TIMEOUT.ended, JobState.PENDING.ended
(True, False)
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from hpcdask.errors import HpcdaskError
from hpcdask.shell import CommandError

__all__ = ["JobInfo", "JobState", "JobSubmissionError", "WorkersFailedError"]


class JobState(enum.Enum):
    """Where a batch job is in its life. TIMEOUT (walltime reached) is not FAILED."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def ended(self) -> bool:
        """Whether the job holds no resources any more."""
        return self in _ENDED


_ENDED = frozenset(
    {JobState.FINISHED, JobState.FAILED, JobState.TIMEOUT, JobState.CANCELLED, JobState.UNKNOWN}
)


@dataclass(frozen=True)
class JobInfo:
    """One job: its id, state, the batch system's reason (why pending, why failed), nodes.

    ``name`` is the Dask job name (worker names derive from it).
    """

    job_id: str
    state: JobState
    reason: str = ""
    nodes: str = ""
    name: str = ""

    def __str__(self) -> str:
        text = f"job {self.job_id}: {self.state.name}"
        if self.reason:
            text += f" ({self.reason})"
        return text + (f" on {self.nodes}" if self.nodes else "")


class JobSubmissionError(CommandError):
    """The batch system refused a worker job; the message quotes its own words.

    Raised at once when the submission fails (bad partition, bad directive, over a limit),
    instead of a worker-start timeout later.
    """

    def __init__(self, system: str, command: Sequence[str], returncode: int | None,
                 stdout: str, stderr: str, said: str) -> None:  # fmt: skip
        message = f"{system} refused the worker job: {said}"
        super().__init__(command, returncode, stdout, stderr, message=message)
        self.system = system


class WorkersFailedError(HpcdaskError):
    """Worker jobs keep ending before any of their workers connects (bad python, crash).

    hpcdask stops replacing them after a few in a row instead of submitting forever.
    """
