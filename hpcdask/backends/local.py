"""The ``local`` type: worker processes on this machine, through distributed's LocalCluster."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask.config
import distributed
from dask.utils import format_bytes
from distributed.deploy.utils import nprocesses_nthreads
from distributed.system import MEMORY_LIMIT

from hpcdask.backends.base import Backend, Check, Reports, Status
from hpcdask.backends.plugins import Niceness
from hpcdask.daskconfig import nested
from hpcdask.models import LocalResource

if TYPE_CHECKING:
    from distributed.security import Security

    from hpcdask.models import Resource

__all__ = ["LocalBackend", "LocalCluster", "local_cluster_kwargs"]


class LocalCluster(Reports, distributed.LocalCluster):
    """distributed's ``LocalCluster``, reporting what it does as every hpcdask cluster does
    (:class:`~hpcdask.backends.base.Reports`' defaults: one placement per worker)."""


def _layout(resource: LocalResource) -> tuple[int | None, int | None]:
    """Return (worker processes, threads per worker) from the worker block."""
    worker = resource.worker
    if worker.cores and not worker.processes and not worker.nthreads:
        processes, threads = nprocesses_nthreads(worker.cores)  # type: ignore[no-untyped-call]
        return processes, threads
    return worker.processes, worker.threads_per_process()


def _worker_config(resource: LocalResource) -> dict[str, Any]:
    """Return the whole Dask config for worker processes: a Nanny replaces, not merges, sections."""
    merged: dict[str, Any] = dask.config.merge(dask.config.config, nested(resource.dask))
    return merged


def local_cluster_kwargs(resource: LocalResource) -> dict[str, Any]:
    """Return the keyword arguments of ``LocalCluster`` for ``resource``.

    Examples
    --------
    >>> from hpcdask.models import LocalResource
    >>> r = LocalResource(name="x", worker={"processes": 2, "cores": 4, "memory": "4GB"})
    >>> kwargs = local_cluster_kwargs(r)
    >>> kwargs["n_workers"], kwargs["threads_per_worker"], kwargs["memory_limit"]
    (2, 2, 2000000000)
    """
    worker = resource.worker
    processes, threads = _layout(resource)
    initial = Backend.initial_workers(resource)
    kwargs: dict[str, Any] = {
        "n_workers": processes if initial is None else initial,
        "threads_per_worker": threads,
        "processes": True,
        "memory_limit": worker.memory_per_process() or "auto",
        "dashboard_address": resource.dashboard_address,
        "config": _worker_config(resource),
    }
    if worker.local_directory:
        kwargs["local_directory"] = worker.local_directory
    if worker.env:
        kwargs["env"] = dict(worker.env)
    if worker.gpus:
        kwargs["resources"] = {"GPU": worker.gpus}
    if worker.nice is not None:
        kwargs["plugins"] = {Niceness(worker.nice)}
    return kwargs


class LocalBackend(Backend):
    """Builds a :class:`LocalCluster` of worker processes."""

    def cluster(self, resource: Resource, security: Security | None = None) -> LocalCluster:
        assert isinstance(resource, LocalResource)
        kwargs = local_cluster_kwargs(resource)
        if security is not None:
            kwargs.update(security=security, protocol="tls://")
        return LocalCluster(**kwargs)  # type: ignore[no-untyped-call]

    def checks(self, resource: Resource) -> list[Check]:
        assert isinstance(resource, LocalResource)
        return [_cores(resource), _memory(resource), _directory(resource), _dashboard(resource)]


def _cores(resource: LocalResource) -> Check:
    have = os.cpu_count() or 1
    want = resource.worker.cores
    if want and want > have:
        return Check("cores", Status.WARNING, f"{want} cores asked for, this machine has {have}")
    return Check("cores", Status.OK, f"{want or 'all'} of {have}")


def _memory(resource: LocalResource) -> Check:
    want = resource.worker.memory
    have = format_bytes(MEMORY_LIMIT)
    if want and want > MEMORY_LIMIT:
        detail = f"{format_bytes(want)} asked for, this machine has {have}"
        return Check("memory", Status.WARNING, detail)
    return Check("memory", Status.OK, f"{format_bytes(want) if want else 'auto'} of {have}")


def _directory(resource: LocalResource) -> Check:
    folder = Path(resource.worker.local_directory or tempfile.gettempdir())
    existing = next((p for p in [folder, *folder.parents] if p.exists()), Path("/"))
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        detail = f"{existing} is not writable ({error.strerror or error})"
        return Check("local-directory", Status.FAILED, detail)
    free = shutil.disk_usage(existing).free // 2**30
    return Check("local-directory", Status.OK, f"{folder} ({free} GiB free)")


def _dashboard(resource: LocalResource) -> Check:
    host, _, port = resource.dashboard_address.rpartition(":")
    if not port.isdigit() or int(port) == 0:
        return Check("dashboard", Status.OK, f"{resource.dashboard_address} (any free port)")
    with socket.socket() as probe:
        try:
            probe.bind((host or "0.0.0.0", int(port)))
        except OSError:
            detail = f"port {port} is taken; the dashboard will use another free port"
            return Check("dashboard", Status.WARNING, detail)
    return Check("dashboard", Status.OK, resource.dashboard_address)
