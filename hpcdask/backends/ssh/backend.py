"""The ``ssh`` type: Dask workers on a lab's machines, started over SSH, scaled like any cluster.

The scheduler runs here (on the address the hosts reach it by); workers are placed
round-robin over the hosts, never beyond each host's capacity, so ``scale()`` and ``adapt()``
work. Every host is checked at once before anything starts: a host that cannot be used is
named with the reason, within the connect timeout.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from distributed import Scheduler
from distributed.utils import get_ip

from hpcdask.backends.base import Backend, Check
from hpcdask.backends.ssh.cluster import HostCluster
from hpcdask.backends.ssh.connect import Connections
from hpcdask.backends.ssh.plan import HostPlan, host_plans
from hpcdask.backends.ssh.probe import probe, start_check
from hpcdask.backends.ssh.process import SSHScheduler
from hpcdask.backends.ssh.versions import version_checks
from hpcdask.backends.workers import inherited_config, worker_options
from hpcdask.errors import HpcdaskError
from hpcdask.models import HostSpec, SSHResource

if TYPE_CHECKING:
    from distributed.security import Security

    from hpcdask.models import Resource

__all__ = ["HostsUnavailable", "SSHBackend"]


class HostsUnavailable(HpcdaskError):
    """Some hosts cannot be used; one line per host, with the reason."""

    def __init__(self, failed: Mapping[str, str], hint: str) -> None:
        self.failed = dict(failed)
        lines = [f"host {host}: {reason}" for host, reason in failed.items()]
        super().__init__("\n".join([*lines, hint]))


def _scheduler_host(addresses: Iterable[str]) -> str:
    """Return the local address the hosts can reach: loopback if they are all local."""
    remote = [a for a in addresses if not ipaddress.ip_address(a).is_loopback]
    return str(get_ip(remote[0])) if remote else "127.0.0.1"  # type: ignore[no-untyped-call]


def scheduler_spec(
    resource: SSHResource,
    addresses: Iterable[str],
    connections: Connections,
    plans: Mapping[str, HostPlan],
    security: Security | None,
) -> dict[str, Any]:
    """Return the spec of the scheduler: in this process, or on the host named in ``scheduler``."""
    options: dict[str, Any] = {"dashboard_address": resource.dashboard_address, "port": 0}
    if security is not None:
        options["protocol"] = "tls://"
    if resource.scheduler != "local":
        remote = {
            "plan": plans[resource.scheduler],
            "connections": connections,
            "options": options,
            "env": {},
            "secret_env": inherited_config(resource, security),
            "start_timeout": resource.start_timeout,
        }
        return {"cls": SSHScheduler, "options": remote}
    if security is not None:
        options["security"] = security
    if resource.interface:
        options["interface"] = resource.interface
    else:
        options["host"] = resource.scheduler_address or _scheduler_host(addresses)
    return {"cls": Scheduler, "options": options}


def _with_scheduler_host(resource: SSHResource) -> dict[str, HostPlan]:
    """Return the worker hosts' plans, plus one for ``scheduler: HOST`` if it is another host."""
    plans = host_plans(resource)
    if resource.scheduler not in ("local", *plans):
        alone = resource.model_copy(update={"hosts": {resource.scheduler: HostSpec()}})
        plans = {**host_plans(alone), **plans}
    return plans


def _usable(resource: SSHResource) -> tuple[dict[str, HostPlan], dict[str, Any], dict[str, str]]:
    plans = _with_scheduler_host(resource)
    reached, failed = probe(plans, start_check, timeout=resource.connect_timeout + 10)
    if resource.scheduler in failed:
        raise HostsUnavailable(
            {resource.scheduler: failed[resource.scheduler]}, "the scheduler host must work"
        )
    workers_reached = [h for h in reached if h in resource.hosts]
    if failed and (resource.on_host_failure == "fail" or not workers_reached):
        hint = (
            "no host can be used"
            if not workers_reached
            else "set on-host-failure: skip to start on the hosts that work"
        )
        raise HostsUnavailable(failed, hint)
    return {h: plans[h] for h in reached}, reached, failed


class SSHBackend(Backend):
    """Builds a :class:`HostCluster` for ``ssh`` resources."""

    def cluster(self, resource: Resource, security: Security | None = None) -> HostCluster:
        assert isinstance(resource, SSHResource)
        everything, reached, failed = _usable(resource)
        plans = {h: p for h, p in everything.items() if h in resource.hosts}
        threads = {h: p.threads(_cpus(reached[h].output)) for h, p in plans.items()}
        connections = Connections()
        addresses = [r.address for r in reached.values()]
        try:
            cluster = HostCluster(
                plans,
                threads=threads,
                worker_options=worker_options(resource, security),
                secret_env=inherited_config(resource, security),
                start_timeout=resource.start_timeout,
                scheduler=scheduler_spec(resource, addresses, connections, everything, security),
                connections=connections,
                security=security,
                dashboard_host=_dashboard_host(resource),
                n_workers=self.initial_workers(resource),
                failed_hosts=failed,
                name=resource.name,
            )
        except RuntimeError as error:  # SpecCluster wraps what failed while starting
            if isinstance(error.__cause__, HpcdaskError):
                raise error.__cause__ from None
            raise
        return cluster

    def checks(self, resource: Resource) -> list[Check]:
        assert isinstance(resource, SSHResource)
        return version_checks(host_plans(resource), resource.connect_timeout + 20)


def _dashboard_host(resource: SSHResource) -> str | None:
    """Return the address the dashboard listens on, when it is a specific one here."""
    host = resource.dashboard_address.rpartition(":")[0].strip("[]")
    local = resource.scheduler == "local"
    return host if local and host not in ("", "0.0.0.0", "::") else None


def _cpus(output: str) -> int | None:
    text = output.strip()
    return int(text) if text.isdigit() else None
