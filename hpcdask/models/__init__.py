"""Frozen, validated resource models: one variant per resource type."""

from hpcdask.models.batch import (
    AllocationSpec,
    HTCondorResource,
    JobqueueResource,
    LSFResource,
    MoabResource,
    NodeSSH,
    OARResource,
    PBSResource,
    SGEResource,
    SlurmResource,
)
from hpcdask.models.common import LocalResource, Resource, Scaling, WorkerSpec
from hpcdask.models.login import LoginSpec, login_of
from hpcdask.models.ssh import HostSpec, SSHResource

__all__ = [
    "AllocationSpec",
    "HTCondorResource",
    "HostSpec",
    "JobqueueResource",
    "LSFResource",
    "LocalResource",
    "LoginSpec",
    "MoabResource",
    "NodeSSH",
    "OARResource",
    "PBSResource",
    "Resource",
    "SGEResource",
    "SSHResource",
    "Scaling",
    "SlurmResource",
    "WorkerSpec",
    "login_of",
]
