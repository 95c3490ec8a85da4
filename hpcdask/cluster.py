"""Open a resource's cluster and apply its scaling: the step between backends and users."""

from __future__ import annotations

from typing import TYPE_CHECKING

# distributed's config defaults must be loaded before the config.set in start_cluster, or
# leaving that block would remove the whole 'distributed' section that importing it adds.
import dask.config
import distributed  # noqa: F401

from hpcdask.backends import backend_of
from hpcdask.dashboard.serving import install as install_page
from hpcdask.daskconfig import dotted
from hpcdask.security import needs_tls, new_credentials

if TYPE_CHECKING:
    from distributed.deploy.cluster import Cluster
    from distributed.security import Security

    from hpcdask.models import Resource, Scaling

__all__ = ["apply_scaling", "start_cluster"]


def apply_scaling(cluster: Cluster, scaling: Scaling) -> None:
    """Make ``cluster`` adaptive between the bounds of ``scaling``, if it has bounds.

    A fixed count needs nothing here: backends start the cluster with it.
    """
    if scaling.adaptive:
        cluster.adapt(
            minimum=scaling.minimum or 0,
            maximum=scaling.maximum,
            interval=scaling.interval,
            wait_count=scaling.wait_count,
            target_duration=scaling.target_duration,
        )


def start_cluster(resource: Resource, security: Security | None = None) -> Cluster:
    """Start the cluster of a validated ``resource``, with its ``dask:`` settings in force.

    Clusters that need TLS (see :func:`hpcdask.security.needs_tls`) get ``security``, or
    fresh credentials when none are given.
    """
    backend = backend_of(resource)
    security = (security or new_credentials()) if needs_tls(resource) else None
    with dask.config.set(dotted(resource.dask)):
        cluster = backend.cluster(resource, security=security)
    try:
        apply_scaling(cluster, resource.scaling)
        install_page(cluster, resource)  # the /hpcdask page on the cluster's own dashboard
    except BaseException:
        cluster.close()
        raise
    return cluster
