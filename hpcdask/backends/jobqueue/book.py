"""The job book: every batch job a cluster submitted, and what the batch system says of it.

It submits, polls and cancels through the shell seam and a dialect, and it learns from the
cluster which workers of each job have connected. It never decides what to start: the cluster
does, from what the book knows.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
import shlex
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from hpcdask.backends.jobqueue.dialect import Dialect
from hpcdask.jobs import JobInfo, JobState, JobSubmissionError
from hpcdask.shell import CommandError, CommandResult, Shell, one_line

__all__ = ["JobBook", "Retry", "Timeouts", "Unanswered"]

logger = logging.getLogger(__name__)

#: Ended jobs kept for ``cluster.jobs`` once they are no longer needed.
_HISTORY = 200


@dataclass(frozen=True)
class Timeouts:
    """Seconds each kind of batch command may take before it is killed."""

    submit: float = 60.0
    status: float = 30.0
    cancel: float = 30.0


@dataclass(frozen=True)
class Retry:
    """How commands that failed transiently (see ``Dialect.transient``) are tried again:
    after ``initial`` s, doubling up to ``maximum`` s (each wait between half and all of it,
    so that clusters do not retry in step), until ``give_up`` s have passed."""

    initial: float = 1.0
    maximum: float = 60.0
    give_up: float = 600.0
    #: Cancelling is bounded more tightly: ``close()`` and ``hpcdask down`` must not hang.
    cancel_give_up: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before try ``attempt + 1``.

        Examples
        --------
        >>> [Retry().delay(n) <= 2.0 ** (n - 1) for n in (1, 2, 3)]
        [True, True, True]
        >>> 30.0 <= Retry().delay(30) <= 60.0
        True
        """
        ceiling = min(self.maximum, self.initial * 2.0 ** (attempt - 1))
        return ceiling * random.uniform(0.5, 1.0)


@dataclass
class Unanswered:
    """Since when (``time.time()``) the batch system has not answered, how often, and why."""

    since: float
    tries: int
    error: str


@dataclass
class _Record:
    info: JobInfo
    joined: int = 0
    present: set[str] = field(default_factory=set)
    left_at: float | None = None
    cancelled: bool = False
    first_joined: float | None = None
    handed_over: bool = False


@dataclass
class _CancelBatch:
    ids: set[str]
    task: asyncio.Future[None] | None = None


class JobBook:
    """Submits, polls and cancels one cluster's jobs and keeps their states.

    Parameters
    ----------
    dialect
        The batch system's commands.
    shell
        Runs them (a fake in unit tests).
    env
        Environment of the commands (None: this process's).
    """

    def __init__(self, dialect: Dialect, shell: Shell, env: Mapping[str, str] | None = None,
                 timeouts: Timeouts = Timeouts(), retry: Retry = Retry()) -> None:  # fmt: skip
        self.dialect = dialect
        self.shell = shell
        self.env = env
        self.timeouts = timeouts
        self.retry = retry
        #: Set while the batch system does not answer (transient failures), else None.
        self.unanswered: Unanswered | None = None
        self._records: dict[str, _Record] = {}
        self._batch: _CancelBatch | None = None
        #: Jobs in a row that ended before any of their workers connected.
        self.failed_in_a_row = 0
        self._refusal: JobSubmissionError | None = None
        self._refused_until = 0.0
        self._backoff = 0.0

    # --- what the book knows ------------------------------------------------------------

    def jobs(self) -> dict[str, JobInfo]:
        """Return every job submitted so far (the most recent ended ones), by job id."""
        return {job_id: record.info for job_id, record in self._records.items()}

    def info(self, job_id: str) -> JobInfo | None:
        """Return what is known of ``job_id``."""
        record = self._records.get(job_id)
        return record.info if record else None

    def live(self) -> list[str]:
        """Return the ids of the jobs that have not ended."""
        return [job_id for job_id, record in self._records.items() if not record.info.state.ended]

    def is_done(self, job_id: str, grace: float) -> bool:
        """Whether ``job_id`` ended, or its workers all left more than ``grace`` s ago."""
        record = self._records.get(job_id)
        if record is None:
            return False
        if record.info.state.ended:
            return True
        return record.left_at is not None and time.monotonic() - record.left_at > grace

    def handover_in(self, job_id: str, after: float) -> float | None:
        """Return the seconds until ``job_id`` needs a successor (``after`` s past its first
        worker's arrival), or None when it has none to get (not started, ended, handed over).
        """
        record = self._records.get(job_id)
        if record is None or record.first_joined is None or record.handed_over:
            return None
        if record.info.state.ended:
            return None
        return record.first_joined + after - time.monotonic()

    def running_for(self, job_id: str) -> float | None:
        """Return the seconds since the first worker of ``job_id`` arrived (None: not yet)."""
        record = self._records.get(job_id)
        if record is None or record.first_joined is None:
            return None
        return time.monotonic() - record.first_joined

    def handed_over(self, job_id: str) -> None:
        """Record that ``job_id`` has a successor: it only finishes its work now."""
        record = self._records.get(job_id)
        if record is not None:
            record.handed_over = True

    # --- submitting -----------------------------------------------------------------------

    async def submit(self, name: str, script: str) -> str:
        """Submit one job running ``script``; return its id.

        Raises
        ------
        JobSubmissionError
            With the batch system's own words when it refuses the job (also when it refused
            one a moment ago: repeated refusals back off, up to five minutes).
        """
        if self._refusal is not None and time.monotonic() < self._refused_until:
            raise self._refusal
        with self._script_file(script) as path:
            command, stdin = self.dialect.submission(script, path)
            try:
                result = await self._retrying(
                    command, self.timeouts.submit, self.retry.give_up, stdin=stdin
                )
                job_id = self.dialect.job_id(result)
            except CommandError as error:
                raise self._refused(error) from None
            except ValueError as error:
                failure = CommandError(command, 0, result.stdout, result.stderr)
                raise self._refused(failure, str(error)) from None
        self._backoff = 0.0
        self._records[job_id] = _Record(JobInfo(job_id, JobState.PENDING, "submitted", name=name))
        return job_id

    async def _retrying(
        self, command: Sequence[str], timeout: float, give_up: float, stdin: str | None = None
    ) -> CommandResult:
        """Run ``command``; try again after transient failures until ``give_up`` s passed."""
        deadline = time.monotonic() + give_up
        for attempt in itertools.count(1):
            try:
                result = await self.shell.run(command, timeout=timeout, stdin=stdin, env=self.env)
            except CommandError as error:
                delay = self.retry.delay(attempt)
                if not self.dialect.transient(error) or time.monotonic() + delay > deadline:
                    raise
                self.not_answering(error)
                await asyncio.sleep(delay)
                continue
            self.answering()
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def not_answering(self, error: CommandError) -> None:
        """Note a transient failure: logged once when the batch system stops answering."""
        said = one_line(str(error))
        if self.unanswered is None:
            self.unanswered = Unanswered(time.time(), 1, said)
            logger.warning("%s is not answering (%s); trying again", self.dialect.system, said)
        else:
            self.unanswered.tries += 1
            self.unanswered.error = said

    def answering(self) -> None:
        """Note that the batch system answered: logged once after it had not."""
        if self.unanswered is not None:
            gone = self.unanswered
            self.unanswered = None
            logger.warning("%s answers again after %d failed tries in %.0f s",
                           self.dialect.system, gone.tries, time.time() - gone.since)  # fmt: skip

    def clear_backoff(self) -> None:
        """Let the next submission reach the batch system even after a refusal."""
        self._refused_until = 0.0

    def _refused(self, error: CommandError, said: str | None = None) -> JobSubmissionError:
        said = said or self.dialect.refusal(error)
        refusal = JobSubmissionError(
            self.dialect.system, error.command, error.returncode, error.stdout, error.stderr, said
        )
        self._backoff = min(max(2 * self._backoff, 5.0), 300.0)
        self._refusal, self._refused_until = refusal, time.monotonic() + self._backoff
        return refusal

    @contextlib.contextmanager
    def _script_file(self, script: str) -> Iterator[str | None]:
        if not self.dialect.needs_file():
            yield None
            return
        fd, path = tempfile.mkstemp(prefix="hpcdask-job-", suffix=".sh")
        try:
            with os.fdopen(fd, "w") as file:
                file.write(script)
            yield path
        finally:
            os.unlink(path)

    # --- polling ------------------------------------------------------------------------

    async def poll(self) -> dict[str, JobInfo]:
        """Ask the batch system for the state of every live job; return all jobs.

        Raises
        ------
        CommandError
            When a status command fails or times out (the states are then left as they were).
        """
        live = self.live()
        if live:
            commands = self.dialect.status_commands(live)
            try:
                results = await asyncio.gather(*(self._status(command) for command in commands))
                listed = self.dialect.parse_status(results)
            except CommandError as error:  # unknown is not gone: states stay as they were
                if self.dialect.transient(error):
                    self.not_answering(error)
                raise
            self.answering()
            for job_id in live:
                self._update(job_id, listed.get(job_id))
        return self.jobs()

    async def _status(self, command: Sequence[str]) -> CommandResult:
        return await self.shell.run(
            command, timeout=self.timeouts.status, env=self.env, check=False
        )

    def _update(self, job_id: str, seen: JobInfo | None) -> None:
        record = self._records[job_id]
        old = record.info
        if seen is None:
            new = self._left_queue(record)
        elif record.present and seen.state is JobState.PENDING:
            new = replace(old, state=JobState.RUNNING, reason="")  # a worker says otherwise
        else:
            new = replace(seen, name=old.name, nodes=seen.nodes or old.nodes)
        record.info = new
        if new.state.ended and not old.state.ended:
            self._ended(record)

    def _left_queue(self, record: _Record) -> JobInfo:
        info = record.info
        if record.cancelled:
            return replace(info, state=JobState.CANCELLED, reason="by hpcdask")
        if record.joined and not record.present:
            return replace(info, state=JobState.FINISHED, reason="its workers retired")
        reason = "left the queue; the batch system no longer reports its final state"
        return replace(info, state=JobState.UNKNOWN, reason=reason)

    def _ended(self, record: _Record) -> None:
        # A job cancelled by someone else is no sign that workers cannot start.
        cancelled = record.cancelled or record.info.state is JobState.CANCELLED
        if not record.joined and not cancelled:
            self.failed_in_a_row += 1
            logger.warning("worker job %s ended before any worker connected", record.info)
        ended = [job_id for job_id, r in self._records.items() if r.info.state.ended]
        for job_id in ended[: max(0, len(ended) - _HISTORY)]:
            del self._records[job_id]

    # --- workers --------------------------------------------------------------------------

    def worker_joined(self, worker: str) -> None:
        """Record that ``worker`` connected; its job is named like it (or ``worker-N``)."""
        record = self._record_of(worker)
        if record is None:
            return
        record.joined += 1
        record.present.add(worker)
        record.left_at = None
        if record.first_joined is None:
            record.first_joined = time.monotonic()
        self.failed_in_a_row = 0
        if record.info.state is JobState.PENDING:
            record.info = replace(record.info, state=JobState.RUNNING, reason="")

    def _record_of(self, worker: str) -> _Record | None:
        group = worker.rpartition("-")[0]
        for record in reversed(self._records.values()):
            if record.info.name in (worker, group) and not record.info.state.ended:
                return record
        return None

    def worker_left(self, worker: str) -> str | None:
        """Record that ``worker`` left the scheduler; return its job id if known."""
        for job_id, record in self._records.items():
            if worker in record.present:
                record.present.discard(worker)
                if not record.present:
                    record.left_at = time.monotonic()
                return job_id
        return None

    # --- cancelling -----------------------------------------------------------------------

    async def cancel(self, job_ids: Sequence[str]) -> None:
        """Cancel jobs; calls made in the same event-loop turn share one cancel command."""
        wanted = [job_id for job_id in job_ids if self._cancellable(job_id)]
        if not wanted:
            return
        if self._batch is None:
            self._batch = _CancelBatch(set())
            self._batch.task = asyncio.ensure_future(self._cancel_batch())
        batch = self._batch
        batch.ids.update(wanted)
        assert batch.task is not None
        await asyncio.shield(batch.task)

    def _cancellable(self, job_id: str) -> bool:
        record = self._records.get(job_id)
        if record is None or record.info.state.ended:
            return False
        record.cancelled = True
        return True

    async def _cancel_batch(self) -> None:
        await asyncio.sleep(0)  # let the other close() calls of this turn join the batch
        assert self._batch is not None
        ids, self._batch = sorted(self._batch.ids), None
        command = self.dialect.cancel_command(ids)
        try:
            await self._retrying(command, self.timeouts.cancel, self.retry.cancel_give_up)
        except CommandError as error:
            if self.dialect.transient(error):  # still no answer: say how to cancel by hand
                said, by_hand = one_line(str(error)), shlex.join(command)
                logger.warning("cannot cancel jobs %s (%s); cancel them with: %s",
                               ", ".join(ids), said, by_hand)  # fmt: skip
            else:  # often jobs that had just ended: the next poll tells
                logger.debug("%s: %s", " ".join(command), error.stderr.strip())
            return
        for job_id in ids:
            record = self._records.get(job_id)
            if record is not None and not record.info.state.ended:
                record.info = replace(record.info, state=JobState.CANCELLED, reason="by hpcdask")

    async def cancel_all(self) -> None:
        """Cancel every job that has not ended."""
        await self.cancel(self.live())
