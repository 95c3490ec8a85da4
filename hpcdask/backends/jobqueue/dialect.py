"""What every batch system's dialect says: how to submit, poll and cancel a job.

A dialect only builds commands and reads their output: pure functions, tested with canned
output. Running the commands is the job book's business, through the shell seam.

The submit and cancel programs are those of the system's dask-jobqueue job class
(``submit_command``, ``cancel_command``), read with :func:`jobqueue_command`. The cancel
command is dask-jobqueue's as it is. The submit command differs in how it is called: the job
script goes to its standard input (no temporary file to write and remove for each job; the
job book, and a faked shell in tests, hand the script itself), and where the plain command
prints the job id inside a sentence, an option makes it print the id alone (each system's
module says which and why).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import ClassVar

from hpcdask.jobs import JobInfo, JobState
from hpcdask.shell import CommandError, CommandResult, CommandTimeout, one_line

__all__ = ["Dialect", "Submission", "jobqueue_command", "state_from"]

#: What any batch client says when the system did not answer, whichever system it is.
_BUSY = (
    "timed out", "timeout", "temporarily", "try again", "connection refused",
    "connection reset", "connection timed out", "no route to host", "network is unreachable",
)  # fmt: skip

Submission = tuple[list[str], str | None]
"""A submit command and the text to feed to its standard input (None: nothing)."""


class Dialect:
    """One batch system's commands. Subclasses set the class attributes and parsers."""

    #: The batch system's name in messages ("Slurm").
    system: ClassVar[str] = ""
    #: Submit command; the job script goes to its standard input unless ``script_file``.
    submit: ClassVar[tuple[str, ...]] = ()
    #: The job script is given as a file path appended to ``submit``.
    script_file: ClassVar[bool] = False
    #: Status command; job ids are appended (see :meth:`status_commands`).
    status: ClassVar[tuple[str, ...]] = ()
    #: Cancel command; job ids are appended.
    cancel: ClassVar[tuple[str, ...]] = ()
    #: The job id in the submit command's output.
    job_id_pattern: ClassVar[str] = r"^\s*(\d+)"
    #: What this batch system says (lower case) when it is busy or unreachable, not refusing:
    #: a command that failed with these words is worth trying again (see :meth:`transient`).
    busy_words: ClassVar[tuple[str, ...]] = ()

    def submission(self, script: str, path: str | None = None) -> Submission:
        """Return the submit command for ``script`` (written at ``path`` if ``script_file``)."""
        if self.needs_file():
            assert path is not None, "this dialect submits a script file"
            return [*self.submit, path], None
        return list(self.submit), script

    def needs_file(self) -> bool:
        """Whether the job script must be written to a file for :meth:`submission`."""
        return self.script_file

    def job_id(self, result: CommandResult) -> str:
        """Return the job id a successful submit command printed.

        Raises
        ------
        ValueError
            When the output holds no job id.
        """
        match = re.search(self.job_id_pattern, result.stdout, re.MULTILINE)
        if match is None:
            said = one_line(result.stdout + "\n" + result.stderr) or "nothing"
            raise ValueError(f"no job id in the output of {result.command[0]}: {said}")
        return match.group(1)

    def refusal(self, error: CommandError) -> str:
        """Return the batch system's own words for a refused submission, on one line."""
        lines = [
            line
            for line in (error.stderr or error.stdout).splitlines()
            if line.strip() and line.strip() != "Exiting."
        ]
        return one_line("\n".join(lines)) or f"{error.command[0]} exited with {error.returncode}"

    def transient(self, error: CommandError) -> bool:
        """Whether ``error`` says the batch system is busy or unreachable (worth retrying),
        rather than that it refuses: a command that timed out, or the system's busy words.

        Examples
        --------
        >>> error = CommandError(["qsub"], 1, "", "qsub: Connection refused")
        >>> Dialect().transient(error), Dialect().transient(CommandError(["qsub"], 1, "", "no"))
        (True, False)
        """
        if isinstance(error, CommandTimeout):
            return True
        said = f"{error.stdout}\n{error.stderr}".lower()
        return any(word in said for word in (*_BUSY, *self.busy_words))

    def status_commands(self, job_ids: Sequence[str]) -> list[list[str]]:
        """Return the commands that report the state of ``job_ids`` (one, by default)."""
        return [[*self.status, *job_ids]]

    def parse_status(self, results: Sequence[CommandResult]) -> dict[str, JobInfo]:
        """Return the jobs the status commands reported; jobs not listed have left the queue.

        Raises
        ------
        CommandError
            When a status command failed for another reason than unknown job ids.
        """
        jobs: dict[str, JobInfo] = {}
        for result in results:
            if result.returncode != 0 and not self.only_unknown_jobs(result):
                raise CommandError(result.command, result.returncode, result.stdout, result.stderr)
            jobs.update(self.parse_jobs(result.stdout))
        return jobs

    def only_unknown_jobs(self, result: CommandResult) -> bool:
        """Whether a failed status command failed only because jobs have left the queue."""
        return False

    def parse_jobs(self, stdout: str) -> dict[str, JobInfo]:
        """Return the jobs listed in one status command's output."""
        raise NotImplementedError

    def cancel_command(self, job_ids: Sequence[str]) -> list[str]:
        """Return the command that cancels ``job_ids``."""
        return [*self.cancel, *job_ids]

    def commands(self) -> tuple[str, str, str]:
        """Return the names of the submit, status and cancel commands."""
        return self.submit[0], self.status[0], self.cancel[0]


def jobqueue_command(command: str, *options: str) -> tuple[str, ...]:
    """Return a dask-jobqueue job class's ``submit_command`` or ``cancel_command`` (a shell
    string) as words, followed by hpcdask's own ``options``.

    Examples
    --------
    >>> jobqueue_command("sbatch", "--parsable")
    ('sbatch', '--parsable')
    """
    return (*shlex.split(command), *options)


def state_from(table: dict[str, JobState], word: str, default: JobState) -> JobState:
    """Look ``word`` up in ``table``, case-insensitively."""
    return table.get(word.upper(), default)
