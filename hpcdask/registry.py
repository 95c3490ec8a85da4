"""Every resource type hpcdask knows, in one table: its model, its backend, its batch system.

Adding a type (a new batch system, say) is its model, its module and one line here. Backends
and systems are named as ``"module:Class"`` and imported only when a cluster of that type is
built, so reading this table stays light (`hpcdask --help`, config validation).

Examples
--------
>>> KINDS["slurm"].system
'hpcdask.backends.jobqueue.systems.slurm:Slurm'
>>> sorted(kind for kind, entry in KINDS.items() if entry.system is None)
['local', 'ssh']
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from hpcdask.models import (
    HTCondorResource,
    LocalResource,
    LSFResource,
    MoabResource,
    OARResource,
    PBSResource,
    Resource,
    SGEResource,
    SlurmResource,
    SSHResource,
)

__all__ = ["KINDS", "PILOT_BACKEND", "Kind", "load"]


@dataclass(frozen=True)
class Kind:
    """One resource type: the model that validates it, the backend that starts it and, for
    batch types, the module that speaks its batch system (``"module:Class"``)."""

    model: type[Resource]
    backend: str
    system: str | None = None


_BATCH = "hpcdask.backends.jobqueue:JobqueueBackend"
_SYSTEMS = "hpcdask.backends.jobqueue.systems"

#: Resource type → what hpcdask needs of it.
KINDS: dict[str, Kind] = {
    "local": Kind(LocalResource, "hpcdask.backends.local:LocalBackend"),
    "ssh": Kind(SSHResource, "hpcdask.backends.ssh:SSHBackend"),
    "slurm": Kind(SlurmResource, _BATCH, f"{_SYSTEMS}.slurm:Slurm"),
    "pbs": Kind(PBSResource, _BATCH, f"{_SYSTEMS}.pbs:PBS"),
    "sge": Kind(SGEResource, _BATCH, f"{_SYSTEMS}.sge:SGE"),
    "lsf": Kind(LSFResource, _BATCH, f"{_SYSTEMS}.lsf:LSF"),
    "htcondor": Kind(HTCondorResource, _BATCH, f"{_SYSTEMS}.htcondor:HTCondor"),
    "oar": Kind(OARResource, _BATCH, f"{_SYSTEMS}.oar:OAR"),
    "moab": Kind(MoabResource, _BATCH, f"{_SYSTEMS}.moab:Moab"),
}

#: The backend of every resource with an ``allocation:`` block (pilots).
PILOT_BACKEND = "hpcdask.pilot.backend:PilotBackend"


def load(target: str) -> Any:
    """Import and return the object a ``"module:Name"`` entry of this table names."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
