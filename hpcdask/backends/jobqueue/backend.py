"""The batch types' backend: one job per group of workers, on every system of ``systems/``.

Clusters are dask-jobqueue's, built from the validated model with every keyword explicit, and
made honest by hpcdask: job states are polled, refused submissions raise at once with the batch
system's words, workers retire before the walltime and their jobs are replaced, and every
orderly close cancels every job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpcdask.backends.base import Backend, Check
from hpcdask.backends.jobqueue.book import JobBook, Retry
from hpcdask.backends.jobqueue.build import build_cluster
from hpcdask.backends.jobqueue.checks import run_checks
from hpcdask.backends.jobqueue.dialect import Dialect
from hpcdask.backends.jobqueue.jobs import preview_script
from hpcdask.backends.jobqueue.system import system_of
from hpcdask.models import JobqueueResource
from hpcdask.shell import Shell, SubprocessShell

if TYPE_CHECKING:
    from distributed.security import Security

    from hpcdask.backends.jobqueue.cluster import BatchCluster
    from hpcdask.models import Resource

__all__ = ["JobqueueBackend", "dialect_for", "job_script"]


def dialect_for(resource: JobqueueResource) -> Dialect:
    """Return the commands of ``resource``'s batch system."""
    return system_of(resource).dialect(resource)


def job_script(resource: JobqueueResource) -> str:
    """Return the script one worker job of ``resource`` runs (HTCondor: its submit file).

    Only the scheduler address (``SCHEDULER-ADDRESS``) and the job name differ from what a
    running cluster submits.

    Raises
    ------
    hpcdask.ConfigError
        When keys a job needs are missing (``worker.cores``, ``worker.memory``, …).
    """
    return preview_script(resource)


class JobqueueBackend(Backend):
    """Builds batch clusters; every batch command goes through ``shell``.

    Parameters
    ----------
    shell
        Runs the batch system's commands (default: local subprocesses).
    """

    def __init__(self, shell: Shell | None = None) -> None:
        self.shell: Shell = shell or SubprocessShell()

    def cluster(self, resource: Resource, security: Security | None = None) -> BatchCluster:
        """Start the cluster and submit its initial jobs; raise if the batch system refuses."""
        assert isinstance(resource, JobqueueResource)
        book = JobBook(dialect_for(resource), self.shell, retry=Retry(*resource.retry.seconds()))
        cluster = build_cluster(resource, book, security)
        try:
            initial = self.initial_workers(resource)
            if initial is None:
                cluster.scale(jobs=1)
            elif initial:
                cluster.scale(initial)
        except BaseException:
            cluster.close()
            raise
        return cluster

    def checks(self, resource: Resource) -> list[Check]:
        """Check the batch system's commands, the queue, the job script and the python.

        For pilot resources (``allocation:``), the per-worker job script is not checked.
        """
        assert isinstance(resource, JobqueueResource)
        return run_checks(resource, self.shell)
