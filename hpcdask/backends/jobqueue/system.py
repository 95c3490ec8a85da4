"""What hpcdask's batch backend needs of one batch system: the contract of a system's module.

Each module of :mod:`hpcdask.backends.jobqueue.systems` defines one :class:`System` subclass
that names its dialect (how to submit, poll and cancel), its job and cluster classes
(dask-jobqueue's, made honest by hpcdask), and answers for what only that system has: its own
job keywords, its GPU directive, how to check a queue. :func:`system_of` finds the system of
a resource through :data:`hpcdask.registry.KINDS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from hpcdask.backends.base import Check
from hpcdask.backends.jobqueue.dialect import Dialect
from hpcdask.models import JobqueueResource
from hpcdask.registry import KINDS, load

if TYPE_CHECKING:
    from hpcdask.backends.jobqueue.cluster import BatchCluster
    from hpcdask.backends.jobqueue.jobs import BookedJob

__all__ = ["System", "batch_types", "system_for", "system_of"]

R = TypeVar("R", bound=JobqueueResource)
#: dask-jobqueue's module of the classes every system's classes share.
_JQ_CORE = "dask_jobqueue.core"


class System(Generic[R]):
    """One batch system. A subclass sets the class attributes and overrides what differs."""

    #: Submits, polls and cancels jobs (see :meth:`dialect`).
    dialect_class: ClassVar[type[Dialect]]
    #: One batch job of Dask workers.
    job_class: ClassVar[type[BookedJob]]
    #: The cluster of such jobs.
    cluster_class: ClassVar[type[BatchCluster]]
    #: Lists the system's queues, one name per word (None: see :attr:`queue_query`).
    queue_listing: ClassVar[tuple[str, ...] | None] = None
    #: Asks about one queue, its name appended; fails for an unknown queue (None: cannot).
    queue_query: ClassVar[tuple[str, ...] | None] = None
    #: Judges a job script on standard input without running it (None: cannot).
    test_submit: ClassVar[tuple[str, ...] | None] = None
    #: Whether the ``walltime`` becomes the jobs' time limit (else it only retires workers).
    limits_walltime: ClassVar[bool] = True

    def dialect(self, resource: R) -> Dialect:
        """Return the commands of ``resource``'s jobs."""
        return self.dialect_class()

    def keywords(self, resource: R, gpus: int) -> dict[str, Any]:
        """Return the keywords only this system's job class takes (``gpus`` per job)."""
        return {"queue": resource.queue, "walltime": resource.job_walltime()}

    def gpu_directive(self, gpus: int) -> str | None:
        """Return the header directive that requests ``gpus`` per job, if the system has one."""
        return None

    def directives(self, resource: R, gpus: int) -> list[str] | dict[str, Any]:
        """Return the jobs' extra header directives, the GPU request first (unless skipped)."""
        extra = list(resource.job_extra_directives)
        own = self.gpu_directive(gpus) if gpus else None
        if own and not any(skip in own for skip in resource.job_directives_skip):
            extra.insert(0, own)
        return extra

    def missing(self, resource: R) -> list[str]:
        """Return the keys (beyond cores and memory) a job needs and ``resource`` lacks."""
        return []

    def checks(self, resource: R) -> list[Check]:
        """Return this system's own preflight checks of ``resource`` (none by default)."""
        return []

    def upstream_job(self) -> type:
        """Return dask-jobqueue's own job class of this system (that :attr:`job_class`
        builds on), e.g. for comparing job scripts with dask-jobqueue's."""
        return next(
            base
            for base in self.job_class.__mro__[1:]
            if base.__module__.startswith("dask_jobqueue.") and base.__module__ != _JQ_CORE
        )


def batch_types() -> list[str]:
    """Return the resource types that are batch systems, in the registry's order."""
    return [kind for kind, entry in KINDS.items() if entry.system is not None]


def system_for(kind: str) -> System[Any]:
    """Return the batch system of resource type ``kind`` (one of :func:`batch_types`)."""
    target = KINDS[kind].system
    assert target is not None, f"{kind} is not a batch type"
    system: System[Any] = load(target)()
    return system


def system_of(resource: JobqueueResource) -> System[Any]:
    """Return the batch system of ``resource``.

    Examples
    --------
    >>> from hpcdask.models import SGEResource
    >>> system_of(SGEResource(name="x")).queue_listing
    ('qconf', '-sql')
    """
    return system_for(resource.type)
