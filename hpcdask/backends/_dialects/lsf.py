"""IBM Spectrum LSF: ``bsub``, ``bjobs -a -o``, ``bkill``."""

from __future__ import annotations

from dataclasses import dataclass

from hpcdask.backends._dialects.base import Dialect, state_from
from hpcdask.jobs import JobInfo, JobState
from hpcdask.shell import CommandResult

__all__ = ["LSFDialect"]

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

    system = "LSF"
    submit = ("bsub",)
    status = ("bjobs", "-a", "-noheader", "-o", f"{_FIELDS} delimiter='|'")
    cancel = ("bkill",)
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
