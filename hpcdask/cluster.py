"""Open a resource's cluster and apply its scaling: the step between backends and users."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpcdask.backends import backend_for
from hpcdask.daskconfig import dotted

if TYPE_CHECKING:
    from distributed.deploy.cluster import Cluster

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


def start_cluster(resource: Resource) -> Cluster:
    """Start the cluster of a validated ``resource``, with its ``dask:`` settings in force."""
    import dask.config
    import distributed  # noqa: F401  (its config defaults must be loaded before the set below,
    # or leaving the block would remove the whole 'distributed' section it added meanwhile)

    backend = backend_for(resource.type)
    with dask.config.set(dotted(resource.dask)):
        cluster = backend.cluster(resource)
    try:
        apply_scaling(cluster, resource.scaling)
    except BaseException:
        cluster.close()
        raise
    return cluster
