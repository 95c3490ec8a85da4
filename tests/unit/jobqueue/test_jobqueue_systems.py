"""Every batch type of the registry has one system module that keeps the contract of
``hpcdask.backends.jobqueue.system`` (CONTRIBUTING.md's recipe)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from hpcdask.backends.jobqueue.args import dask_jobqueue
from hpcdask.backends.jobqueue.cluster import BatchCluster
from hpcdask.backends.jobqueue.dialect import Dialect
from hpcdask.backends.jobqueue.jobs import BookedJob, LogDirectoryLater
from hpcdask.backends.jobqueue.system import System, system_of
from hpcdask.models import JobqueueResource
from hpcdask.registry import KINDS

BATCH = sorted(kind for kind, entry in KINDS.items() if entry.system is not None)
SYSTEMS = Path(importlib.import_module("hpcdask.backends.jobqueue.systems").__path__[0])
#: dask-jobqueue's job class each system's job class must build on.
UPSTREAM = {
    "slurm": "slurm.SLURMJob", "pbs": "pbs.PBSJob", "moab": "moab.MoabJob", "sge": "sge.SGEJob",
    "lsf": "lsf.LSFJob", "htcondor": "htcondor.HTCondorJob", "oar": "oar.OARJob",
}  # fmt: skip


def test_every_batch_type_has_its_own_module() -> None:
    modules = sorted(p.stem for p in SYSTEMS.glob("*.py") if p.stem != "__init__")
    assert modules == BATCH == sorted(UPSTREAM)
    for kind in BATCH:
        target = KINDS[kind].system
        assert target is not None
        assert target.partition(":")[0] == f"hpcdask.backends.jobqueue.systems.{kind}"


@pytest.mark.parametrize("kind", BATCH)
def test_system_keeps_the_contract(kind: str) -> None:
    model = KINDS[kind].model
    assert issubclass(model, JobqueueResource)
    resource = model(name="x")
    assert resource.type == kind
    system = system_of(resource)
    assert isinstance(system, System)
    assert issubclass(system.dialect_class, Dialect)
    assert isinstance(system.dialect(resource), system.dialect_class)
    job = system.job_class
    module, _, name = UPSTREAM[kind].partition(".")
    upstream = getattr(getattr(dask_jobqueue(), module), name)
    assert issubclass(job, BookedJob) and issubclass(job, upstream)
    assert job.__mro__.index(upstream) < job.__mro__.index(LogDirectoryLater)
    assert issubclass(system.cluster_class, BatchCluster)
    assert system.cluster_class.job_cls is job
    assert all(system.dialect(resource).commands())
    assert system.queue_listing is None or system.queue_query is None
