"""Preflight of an ``ssh`` resource: every host reachable, its python there, versions alike.

Mismatched Python, dask or distributed versions between here and the workers break
serialisation in ways that are hard to read later; this says so per host, up front.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Mapping

from hpcdask.backends.base import Check, Status
from hpcdask.backends.ssh.plan import HostPlan
from hpcdask.backends.ssh.probe import probe

__all__ = ["local_versions", "mismatches", "version_checks", "versions_command"]

#: Packages whose versions must match between the client and the workers.
PACKAGES = ("dask", "distributed", "cloudpickle", "msgpack")

_SCRIPT = f"""\
import json, os, sys
out = {{"python": ".".join(map(str, sys.version_info[:3])), "cpus": os.cpu_count()}}
for name in {PACKAGES!r}:
    try:
        out[name] = __import__(name).__version__
    except Exception as error:
        out[name] = "missing (" + type(error).__name__ + ")"
print(json.dumps(out))
"""


def versions_command(plan: HostPlan) -> str:
    """Return the command that reports a host's Python and package versions as JSON."""
    return f"{shlex.quote(plan.python)} -c {shlex.quote(_SCRIPT)}"


def local_versions() -> dict[str, str]:
    """Return the same report for this process."""
    versions = {"python": ".".join(map(str, sys.version_info[:3]))}
    for name in PACKAGES:
        versions[name] = str(__import__(name).__version__)
    return versions


def mismatches(remote: Mapping[str, object], local: Mapping[str, str]) -> list[str]:
    """Return ``name remote (here local)`` for every version that differs.

    Python counts as equal when major and minor agree.

    Examples
    --------
    >>> here = {"python": "3.11.7", "dask": "2026.8.0"}
    >>> mismatches({"python": "3.11.2", "dask": "2024.1.0"}, here)
    ['dask 2024.1.0 (here 2026.8.0)']
    """
    found = []
    for name, here in local.items():
        there = str(remote.get(name, "missing"))
        same = there.split(".")[:2] == here.split(".")[:2] if name == "python" else there == here
        if not same:
            found.append(f"{name} {there} (here {here})")
    return found


def _check(host: str, output: str, local: Mapping[str, str]) -> Check:
    try:
        remote = json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return Check(f"host {host}", Status.FAILED, f"unreadable version report: {output!r}")
    wrong = mismatches(remote, local)
    if wrong:
        detail = "versions differ, which breaks serialisation: " + ", ".join(wrong)
        return Check(f"host {host}", Status.FAILED, detail)
    detail = (
        f"python {remote['python']}, dask {remote['dask']}, "
        f"distributed {remote['distributed']}, {remote.get('cpus')} cpus"
    )
    return Check(f"host {host}", Status.OK, detail)


def version_checks(plans: Mapping[str, HostPlan], timeout: float) -> list[Check]:
    """Check every host in parallel; one result per host, in the order listed."""
    reached, failed = probe(plans, versions_command, timeout)
    local = local_versions()
    results = []
    for host in plans:
        if host in failed:
            results.append(Check(f"host {host}", Status.FAILED, failed[host]))
        else:
            results.append(_check(host, reached[host].output, local))
    return results
