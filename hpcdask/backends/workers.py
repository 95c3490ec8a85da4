"""What the workers hpcdask starts itself share: nanny options, and the Dask config and TLS
credentials they inherit.

The ssh family starts its workers over SSH and the pilots start theirs inside held
allocations; batch jobs export the inherited config in their job scripts (their TLS
credentials are dask-jobqueue's files). Each caller adds what depends on where a worker runs
(threads, memory limit, host).

Examples
--------
>>> from hpcdask.models import SSHResource
>>> resource = SSHResource(name="lab", hosts=["ws1"], worker={"gpus": 2}, death_timeout=30)
>>> worker_options(resource, None)
{'death_timeout': 30.0, 'resources': {'GPU': 2}}
>>> inherited_config(resource, None)
{}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dask.config

from hpcdask.daskconfig import nested
from hpcdask.models import JobqueueResource, SSHResource
from hpcdask.security import as_dask_config

if TYPE_CHECKING:
    from distributed.security import Security

__all__ = ["INHERIT_CONFIG", "WorkerResource", "inherited_config", "worker_options"]

#: The variable distributed reads, in a new process, for the config it inherits.
INHERIT_CONFIG = "DASK_INTERNAL_INHERIT_CONFIG"

WorkerResource = SSHResource | JobqueueResource
"""The resources whose workers hpcdask starts itself."""


def worker_options(resource: WorkerResource, security: Security | None) -> dict[str, Any]:
    """Return the :class:`distributed.Nanny` keywords every worker of ``resource`` shares:
    its death timeout, its GPUs as the ``GPU`` resource, and TLS when ``security`` is given.

    Parameters
    ----------
    resource
        An ``ssh`` resource, or a batch resource whose workers run in pilots.
    security
        The cluster's TLS credentials (None: plain TCP).
    """
    options: dict[str, Any] = {"death_timeout": float(resource.death_timeout)}
    if resource.worker.gpus:
        options["resources"] = {"GPU": resource.worker.gpus}
    if security is not None:
        options["protocol"] = "tls"
    return options


def inherited_config(resource: WorkerResource, security: Security | None) -> dict[str, str]:
    """Return the variable that gives a worker's process ``resource``'s ``dask:`` block and the
    cluster's TLS credentials (``{}`` when there is neither).

    Parameters
    ----------
    resource
        An ``ssh`` resource, or a batch resource whose workers run in pilots.
    security
        The cluster's TLS credentials (None: plain TCP).
    """
    config = nested(resource.dask)
    if security is not None:
        config = dask.config.merge(config, as_dask_config(security))
    if not config:
        return {}
    return {INHERIT_CONFIG: dask.config.serialize(config)}
