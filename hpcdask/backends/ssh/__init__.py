"""The ``ssh`` family: Dask workers on a lab's machines, started over SSH, scaled like any cluster.

What the family provides
    :class:`SSHBackend` (the ``ssh`` type's backend: a ``HostCluster``, a distributed
    ``SpecCluster`` whose worker template places workers round-robin over the hosts) and,
    for other families that log into a host (the login node of a batch resource), one SSH
    host plan per host (:class:`HostPlan`, :func:`host_plans`) and one way to connect to it
    with clear errors (:func:`connect_options`, :func:`describe`, :class:`Connections`).

What it needs
    A validated :class:`~hpcdask.models.SSHResource`; ``asyncssh`` (imported when a host is
    first reached); on every host, a Python with distributed (``worker.python``).

Modules
    ``backend`` (the backend and its checks), ``plan`` (per-host settings), ``connect``
    (connections), ``process`` (remote scheduler and worker processes), ``cluster`` (the
    ``HostCluster``), ``placement`` (round-robin placement), ``probe`` and ``versions``
    (preflight checks).
"""

from hpcdask.backends.ssh.backend import HostsUnavailable, SSHBackend
from hpcdask.backends.ssh.connect import Connections, HostError, connect_options, describe
from hpcdask.backends.ssh.plan import HostPlan, host_plans

__all__ = [
    "Connections",
    "HostError",
    "HostPlan",
    "HostsUnavailable",
    "SSHBackend",
    "connect_options",
    "describe",
    "host_plans",
]
