"""hpcdask's functions for users: find resources by name and start their clusters."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from hpcdask.config import ConfigPaths, load_catalog
from hpcdask.lifecycle import up
from hpcdask.models import login_of
from hpcdask.remote import find_running
from hpcdask.resource import validate

if TYPE_CHECKING:
    from distributed.deploy.cluster import Cluster

    from hpcdask.models import Resource

__all__ = ["connect", "list_resources", "load_resource"]

logger = logging.getLogger(__name__)


def list_resources(config: ConfigPaths = None) -> list[str]:
    """Return the names of every resource hpcdask can find, sorted.

    Examples
    --------
    >>> "local" in list_resources()
    True
    """
    return load_catalog(config).names()


def load_resource(
    name: str | None = None, *, config: ConfigPaths = None, **overrides: Any
) -> Resource:
    """Return the validated resource ``name`` (the default resource when None).

    Parameters
    ----------
    name
        A resource name from the configs; None for the default (``local`` unless configured).
    config
        Extra config files or folders, searched before all others.
    **overrides
        Keys merged over the resource's own (``worker={"cores": 2}``, ``walltime="01:00:00"``).

    Raises
    ------
    hpcdask.ConfigError
        With one line per problem, naming the file, the resource and the key.

    Examples
    --------
    >>> load_resource("local", worker={"processes": 2}).worker.processes
    2
    """
    return validate(load_catalog(config).resolve(name, overrides))


def connect(name: str | None = None, *, config: ConfigPaths = None, **overrides: Any) -> Cluster:
    """Attach to the running cluster ``name``, or start it; return it, ready for a ``Client``.

    A cluster started with ``hpcdask up NAME`` lives in its own process: ``connect(NAME)``
    attaches to it (``scale`` and ``adapt`` go to that process; closing only detaches).
    Otherwise the cluster starts in this process and stops when it is closed, except behind a
    login node (a ``login:`` block): there it starts on the login node, as with ``hpcdask up``,
    and this machine reaches it through an SSH tunnel. ``name`` may also
    be a connection file written by ``hpcdask export`` (attach from another machine).
    Parameters are those of :func:`load_resource`; overrides apply only to a cluster that
    starts here.

    Examples
    --------
    >>> from distributed import Client
    >>> cluster = connect(  # doctest: +SKIP
    ...     "local", worker={"processes": 1}, dashboard_address=":0")
    >>> with Client(cluster) as client:  # doctest: +SKIP
    ...     client.submit(sum, [1, 2, 3]).result()
    6
    >>> cluster.close()  # doctest: +SKIP
    """
    # lazy: distributed loads when a cluster is wanted, not for list_resources/load_resource
    from hpcdask.attached import AttachedCluster
    from hpcdask.cluster import start_cluster

    if name is not None and name.endswith(".json") and os.path.isfile(name):
        return AttachedCluster.from_file(name)
    resource = load_resource(name, config=config, **overrides)
    record = find_running(resource.name)
    if record is not None:
        if overrides:
            logger.warning(
                "cluster '%s' is already running: attaching; overrides are ignored", resource.name
            )
        return AttachedCluster(record)
    if login_of(resource) is not None:  # the cluster lives on the login node
        return AttachedCluster(up(resource))
    return start_cluster(resource)
