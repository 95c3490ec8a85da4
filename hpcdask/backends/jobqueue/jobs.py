"""hpcdask's worker jobs: dask-jobqueue's job classes, submitted and cancelled by the job book.

dask-jobqueue writes the job scripts; hpcdask only replaces how a job is submitted (through the
shell seam, raising the batch system's own refusal at once) and cancelled (batched).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from distributed.core import Status
from distributed.security import Security

from hpcdask.backends.jobqueue.args import (
    dask_jobqueue,
    job_kwargs,
    require_startable,
    use_neutral_config,
)
from hpcdask.backends.jobqueue.system import system_of
from hpcdask.security import needs_tls

if TYPE_CHECKING:
    from hpcdask.backends.jobqueue.book import JobBook
    from hpcdask.models import JobqueueResource

__all__ = ["BookedJob", "LogDirectoryLater", "preview_script"]

_jq: Any = dask_jobqueue()
_ProcessInterface: Any = importlib.import_module("distributed.deploy.spec").ProcessInterface
Job: Any = _jq.core.Job


class LogDirectoryLater(Job):  # type: ignore[misc]
    """The last base of every system's job class: between it and ``Job`` in the MRO.

    ``Job.__init__`` creates the log directory; hpcdask creates it when a cluster starts, so
    that ``hpcdask show`` (which builds a job to print its script) changes nothing on disk.
    """

    def __init__(self, *args: Any, log_directory: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, log_directory=None, **kwargs)
        self.log_directory = log_directory


class BookedJob(Job):  # type: ignore[misc]
    """One batch job of Dask workers, submitted and cancelled through the cluster's job book.

    ``nthreads`` sets the threads of each worker process (dask-jobqueue's cores ÷ processes
    when None).
    """

    def __init__(
        self,
        scheduler: str | None = None,
        name: str | None = None,
        *,
        book: JobBook | None = None,
        nthreads: int | None = None,
        **kwargs: Any,
    ) -> None:
        self._book = book
        self._nthreads = nthreads  # read by worker_process_threads during super().__init__
        use_neutral_config()
        super().__init__(scheduler=scheduler, name=name, **kwargs)

    @property
    def worker_process_threads(self) -> int:
        """Threads of each worker process."""
        return self._nthreads or int(self.worker_cores / self.worker_processes)

    async def start(self) -> None:
        """Submit the job; raise :class:`~hpcdask.jobs.JobSubmissionError` if refused."""
        if self._book is None:
            raise RuntimeError("this job only previews its script; it has no job book")
        try:
            self.job_id = await self._book.submit(str(self.name), self.job_script())
        except BaseException:
            self.status = Status.failed
            raise
        await _ProcessInterface.start(self)

    async def close(self) -> None:
        """Cancel the job (if it is still queued or running)."""
        if self.job_id and self._book is not None:
            await self._book.cancel([self.job_id])
        await _ProcessInterface.close(self)

    def __repr__(self) -> str:
        info = self._book.info(self.job_id) if self._book and self.job_id else None
        return f"<{type(self).__name__} {self.name!r}: {info or 'not submitted'}>"


#: Stands for the scheduler's address in previews (known only once the cluster runs); the
#: credential files under SHARED-TEMP-DIRECTORY are written when it starts as well.
PREVIEW_ADDRESS = "tcp://SCHEDULER-ADDRESS:8786"


def preview_script(resource: JobqueueResource) -> str:
    """Return the job script (or HTCondor submit file) one worker job of ``resource`` runs.

    Only the scheduler address and the job's name differ from what a cluster submits.
    """
    require_startable(resource)
    kwargs: dict[str, Any] = {"interface": resource.interface, "protocol": None, "security": None}
    if needs_tls(resource):
        kwargs.update(protocol="tls://", security=_preview_security())
    job = system_of(resource).job_class(
        PREVIEW_ADDRESS, name=f"{resource.name}-0", **kwargs, **job_kwargs(resource)
    )
    script: str = job.job_script()
    return script


def _preview_security() -> Any:
    """Stand-ins for the credential files a running cluster writes for its workers."""
    folder = "SHARED-TEMP-DIRECTORY/.dask-jobqueue.worker"
    return Security(  # type: ignore[no-untyped-call]
        tls_ca_file=f"{folder}.ca_file", tls_worker_cert=f"{folder}.cert",
        tls_worker_key=f"{folder}.key", require_encryption=True,
    )  # fmt: skip
