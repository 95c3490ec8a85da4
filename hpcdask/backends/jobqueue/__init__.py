"""The batch family: Dask workers in batch jobs, one job per group of workers.

What the family provides
    :class:`JobqueueBackend`, the backend of every batch type (slurm, pbs, sge, lsf,
    htcondor, oar, moab): a dask-jobqueue cluster whose jobs are submitted, polled and
    cancelled through the shell seam (:class:`~hpcdask.backends.jobqueue.book.JobBook`),
    replaced when they end, and never orphaned; :func:`job_script` (what ``hpcdask show``
    prints); :func:`dialect_for` (a system's commands, which pilots use too); and the checks
    other families reuse (:mod:`hpcdask.backends.jobqueue.checks`).

What it needs
    A validated :class:`~hpcdask.models.JobqueueResource`; dask-jobqueue (imported quietly:
    see :func:`~hpcdask.backends.jobqueue.args.quiet_import`); the batch system's client
    commands on PATH; and, per batch system, one module of
    :mod:`hpcdask.backends.jobqueue.systems` (see :mod:`~hpcdask.backends.jobqueue.system`).

Modules
    ``backend``, ``system`` (the contract of a system's module), ``dialect`` (commands and
    their parsing, per system), ``args`` (keywords for dask-jobqueue's classes), ``jobs``
    (the job classes' common base), ``cluster`` (``BatchCluster``), ``book`` (every job and
    its state), ``build``, ``checks``, and ``systems/`` (one module per batch system).
"""

from hpcdask.backends.jobqueue.backend import JobqueueBackend, dialect_for, job_script

__all__ = ["JobqueueBackend", "dialect_for", "job_script"]
