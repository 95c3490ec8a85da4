"""hpcdask's batch clusters: dask-jobqueue's clusters with honest job states.

On top of dask-jobqueue's ``SpecCluster`` a watcher polls the batch system, so ``cluster.jobs``
says which jobs are pending, running or ended (and why), and keeps the requested count: a job
that ended (its workers retired before the walltime, or it was killed) is replaced by a fresh
one. A refused submission raises the batch system's message from ``scale()`` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import logging
from collections import Counter
from typing import Any

from distributed.core import Status

from hpcdask.backends.base import Description, Placement, Reports
from hpcdask.backends.jobqueue.args import dask_jobqueue
from hpcdask.backends.jobqueue.book import JobBook
from hpcdask.backends.replace import ReplacesEnded
from hpcdask.errors import HpcdaskError
from hpcdask.jobs import JobInfo, JobState, JobSubmissionError, WorkersFailedError
from hpcdask.shell import CommandError

__all__ = ["BatchCluster"]

logger = logging.getLogger(__name__)

_jq: Any = dask_jobqueue()
_in_async_call: Any = importlib.import_module("distributed.utils").in_async_call
JobQueueCluster: Any = _jq.core.JobQueueCluster

#: Jobs in a row that may end before a worker connects before hpcdask stops replacing them.
FAILURE_LIMIT = 3
#: Ended jobs :meth:`BatchCluster.describe` lists, after the live ones.
_ENDED_SHOWN = 5
#: Ended jobs :meth:`BatchCluster.job_states` reports, after the live ones.
_ENDED_REPORTED = 10
#: After a worker leaves, poll this often (seconds), this many times, to replace its job soon.
_FAST_INTERVAL, _FAST_POLLS = 1.0, 5


class BatchCluster(Reports, ReplacesEnded, JobQueueCluster):  # type: ignore[misc]
    """A dask-jobqueue cluster whose jobs are polled, replaced when they end, never orphaned.

    Attributes
    ----------
    book : JobBook
        Every job submitted, with its state as the batch system reports it.
    problem : HpcdaskError or None
        The last refusal of a submission, or why ending jobs are no longer replaced.
    """

    #: Jobs end at their walltime: a replacement is news, not a warning.
    replaced_level = logging.INFO

    def __init__(self, *args: Any, book: JobBook, poll_interval: float, replace_grace: float,
                 handover_after: float | None = None, job_seconds: float | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        self.book = book
        self._walltime = job_seconds
        self._handover_after = handover_after
        self._retiring: dict[str, Any] = {}
        self.problem: HpcdaskError | None = None
        self._poll_interval = poll_interval
        self._grace = replace_grace
        self._refusals = 0
        self._raising = False
        self._fast_polls = 0
        self._watcher: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._guarded: tuple[Any, asyncio.Future[None]] | None = None
        super().__init__(*args, book=book, **kwargs)

    # --- what users see -----------------------------------------------------------------

    @property
    def jobs(self) -> dict[str, JobInfo]:
        """Every job this cluster submitted, by job id, as last polled."""
        return self.book.jobs()

    def job_states(self) -> dict[str, str]:
        """Return job id → state (``pending``, ``running``, or how it ended: ``timeout`` is
        not ``failed``), as last polled, for ``hpcdask status``: every live job, then the
        last few ended ones (as many as a pilot cluster remembers)."""
        jobs = self.book.jobs().values()
        ended = [info for info in jobs if info.state.ended][-_ENDED_REPORTED:]
        return {info.job_id: info.state.value for info in jobs if not info.state.ended} | {
            info.job_id: info.state.value for info in ended
        }

    def pending_reasons(self) -> dict[str, str]:
        """Return pending job id → the batch system's reason (Slurm's ``%r``, PBS's comment,
        …), as last polled."""
        return {
            info.job_id: info.reason
            for info in self.book.jobs().values()
            if info.state is JobState.PENDING
        }

    def not_answering(self) -> dict[str, object] | None:
        """Return since when, how often and why the batch system has not answered, or None."""
        gone = self.book.unanswered
        return None if gone is None else dataclasses.asdict(gone)

    def refresh_jobs(self) -> dict[str, JobInfo]:
        """Poll the batch system now and return :attr:`jobs`."""
        jobs: dict[str, JobInfo] = self.sync(self.book.poll)
        return jobs

    def job_summary(self) -> str:
        """Return the live jobs counted by state, e.g. ``2 running, 1 pending``."""
        live = [info.state.value for info in self.book.jobs().values() if not info.state.ended]
        counts = Counter(live)
        return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none"

    def describe(self) -> Description:
        """Return one placement per job (live ones, then the last few ended), for the
        dashboard: state, nodes, the batch system's reason and the walltime left."""
        processes = int(self._job_kwargs.get("processes") or 1)
        live: list[Placement] = []
        ended: list[Placement] = []
        for info in self.book.jobs().values():
            workers = (info.name,) if processes == 1 else tuple(
                f"{info.name}-{i}" for i in range(processes)
            )  # fmt: skip
            running = self.book.running_for(info.job_id)
            left = None
            if self._walltime is not None and running is not None and not info.state.ended:
                left = max(0.0, self._walltime - running)
            place = Placement(info.job_id, info.state.value, nodes=info.nodes, workers=workers,
                              walltime_left=left, note=info.reason)  # fmt: skip
            (ended if info.state.ended else live).append(place)
        return Description("job", (*live, *ended[-_ENDED_SHOWN:]))

    def __repr__(self) -> str:
        text: str = super().__repr__()
        return f"{text[:-1]}, jobs: {self.job_summary()})"

    def _scaling_status(self) -> str:
        table: str = super()._scaling_status()
        row = f'<tr><td style="text-align: left;">Jobs: {self.job_summary()}</td></tr>'
        return table.replace("</table>", f"    {row}\n        </table>")

    # --- scaling: submit now, raise refusals ----------------------------------------------

    def scale(self, n: int | None = None, jobs: int = 0, memory: Any = None,
              cores: Any = None) -> Any:  # fmt: skip
        """Ask for ``n`` workers (or ``jobs`` jobs); submit at once.

        Raises
        ------
        JobSubmissionError
            When the batch system refuses the jobs (called from a thread other than the
            event loop's; adaptive scaling records it in :attr:`problem` instead).
        """
        in_loop = _in_async_call(self.loop)
        if not in_loop:  # a person asked: try the batch system again
            self.book.clear_backoff()
            self.book.failed_in_a_row = 0
        refusals = self._refusals
        result = super().scale(n, jobs=jobs, memory=memory, cores=cores)
        if in_loop or self.asynchronous or self.status != Status.running:
            return result
        self._raising = True  # the refusal goes to the caller, not to the log
        try:
            self.sync(self._correct_state)
        finally:
            self._raising = False
        if self._refusals > refusals and self.problem is not None:
            raise self.problem
        return None

    def _correct_state(self) -> asyncio.Future[None]:
        task = super()._correct_state()
        if self._guarded is None or self._guarded[0] is not task:
            self._guarded = (task, asyncio.ensure_future(self._settle(task)))
        return self._guarded[1]

    async def _settle(self, task: Any) -> None:
        try:
            await task
        except JobSubmissionError as error:
            self._refused(error)

    def _refused(self, error: JobSubmissionError) -> None:
        if error is not self.problem and not self._raising:  # logged once, unless raised
            logger.error("%s", error)
        self.problem = error
        self._refusals += 1
        for name, job in list(self.workers.items()):
            if job.status == Status.failed:  # never submitted: not a worker to wait for
                self.workers.pop(name)
                self.worker_spec.pop(name, None)

    # --- the watcher ------------------------------------------------------------------------

    async def _start(self) -> None:
        await super()._start()
        if self._watcher is None:
            self._wake = asyncio.Event()
            self._watcher = asyncio.ensure_future(self._watch())

    async def _close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        retiring, self._retiring = list(self._retiring.values()), {}
        try:
            await asyncio.gather(*(job.close() for job in retiring))
            await super()._close()
        finally:
            await self.book.cancel_all()  # whatever scale(0) did not reach
            self._forget_credentials()

    def _forget_credentials(self) -> None:
        """Close (so delete) the workers' credential files dask-jobqueue wrote for TLS."""
        for role in ("ca_file", "cert", "key"):
            file = getattr(self, f"_job_{role}", None)
            if file is not None:
                file.close()

    async def _watch(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._next_check())
            self._wake.clear()
            self._fast_polls = max(0, self._fast_polls - 1)
            try:
                await self.book.poll()
                await self._hand_over()
                await self._replace_ended()
            except CommandError as error:
                if self.book.unanswered is None:  # not busy: a problem to say each time
                    logger.warning("cannot poll the batch system: %s", error)
            except Exception:  # the watcher must outlive surprises; they are logged in full
                logger.exception("checking the worker jobs failed")

    def _next_check(self) -> float:
        """Seconds until the next poll: the poll interval, sooner when a handover is due."""
        wait = _FAST_INTERVAL if self._fast_polls else self._poll_interval
        for job in self.workers.values():
            left = self._handover_left(job)
            if left is not None:
                wait = min(wait, max(left, 0.05))
        return min(wait, self._poll_interval)

    def _handover_left(self, job: Any) -> float | None:
        """Seconds until ``job`` needs a successor; None if it needs none."""
        if not job.job_id or self._handover_after is None:
            return None
        return self.book.handover_in(job.job_id, self._handover_after)

    async def _hand_over(self) -> None:
        """Request a successor for each job whose workers retire soon (walltime - margin).

        The old job leaves the plan but keeps working until its workers retire and hand
        their data to the others, the successor among them if it has started by then.
        """
        if self._handover_after is None or self.status != Status.running:
            return
        due = [n for n, job in self.workers.items() if n in self.worker_spec and self._due(job)]
        if not due:
            return
        async with self._lock:
            for name in due:
                job = self.workers.get(name)
                if job is not None and self._renew(name):  # else scaled down meanwhile
                    del self.workers[name]
                    self._retiring[name] = job
                    self.book.handed_over(job.job_id)
                    logger.info("requesting a successor for %s: its walltime ends soon", job)
        await self._correct_state()

    def _due(self, job: Any) -> bool:
        """Whether ``job`` needs a successor now."""
        left = self._handover_left(job)
        return left is not None and left <= 0

    def _renew(self, name: str) -> bool:
        """Replace job ``name`` in the plan by one under a fresh name; False if not planned.

        ``scale()`` may edit the plan from another thread: only a job still in it is renewed.
        """
        if self.worker_spec.pop(name, None) is None:
            return False
        self._successor()
        return True

    def _successor(self) -> None:
        """Plan one more job, under a fresh name: an old job's workers may still be connected."""
        self._i += 1
        self.worker_spec.update(self.new_worker_spec())

    async def _replace_ended(self) -> None:
        if self.status != Status.running:
            return
        for name, job in list(self._retiring.items()):
            if self._done(job):  # ended, or its workers left long ago: forget (cancel) it
                del self._retiring[name]
                await job.close()
        done = self.ended_planned(self._done)
        if done:
            await self._replace(done)
        if set(self.worker_spec) - set(self.workers):  # e.g. closed by distributed itself
            await self._correct_state()

    def _done(self, job: Any) -> bool:
        return bool(job.job_id) and self.book.is_done(job.job_id, self._grace)

    async def _replace(self, names: list[str]) -> None:
        """Replace the ended jobs ``names`` (or give up on them) and close (cancel) them."""
        async with self._lock:
            for job in self.replace_ended(names).values():  # else scaled down meanwhile
                if job is not None:
                    await job.close()
        await self._correct_state()

    def ask_again(self, target: int, names: list[str]) -> None:
        """Plan one fresh job for each ended one."""
        for _ in names:
            self._successor()

    def stop_replacing(self, names: list[str]) -> HpcdaskError | None:
        """Stop once :data:`FAILURE_LIMIT` jobs in a row ended before a worker connected."""
        if self.book.failed_in_a_row < FAILURE_LIMIT:
            return None
        last = self.book.info(self.workers[names[-1]].job_id)
        self.problem = WorkersFailedError(
            f"{self.book.failed_in_a_row} worker jobs in a row ended before any of their "
            f"workers connected (last: {last}); hpcdask stopped replacing them: see the "
            "job output (log-directory) for why the workers did not start"
        )
        return self.problem

    def _update_worker_status(self, op: str, msg: Any) -> None:
        if op == "add":
            for info in msg.get("workers", {}).values():
                self.book.worker_joined(str(info.get("name")))
        elif op == "remove":
            name = self.scheduler_info["workers"].get(msg, {}).get("name")
            if name is not None and self.book.worker_left(str(name)) and self._wake:
                self._fast_polls = _FAST_POLLS  # its job should end in a moment: replace it
                self._wake.set()
        super()._update_worker_status(op, msg)
