"""From a validated batch resource to the keyword arguments of dask-jobqueue's classes.

Every keyword is passed explicitly, defaults included, and the jobs read dask config only from
a neutral section (``jobqueue.hpcdask``, all keys unset), so a user's own ``jobqueue.yaml`` never
leaks into an hpcdask cluster.
"""

from __future__ import annotations

import importlib
import logging
import re
import shlex
import signal
import sys
from typing import TYPE_CHECKING, Any

import dask.config
from distributed.deploy.utils import nprocesses_nthreads

from hpcdask._model import walltime_seconds
from hpcdask.backends.jobqueue.system import system_of
from hpcdask.backends.workers import inherited_config
from hpcdask.errors import ConfigError
from hpcdask.models import JobqueueResource
from hpcdask.models.batch import duration_seconds
from hpcdask.state import state_dir

if TYPE_CHECKING:
    from distributed.security import Security

__all__ = [
    "CONFIG_NAME",
    "cluster_kwargs",
    "dask_jobqueue",
    "job_kwargs",
    "lifetime",
    "quiet_import",
    "require_startable",
    "use_neutral_config",
]

#: The dask config section dask-jobqueue's classes read for keys hpcdask does not pass.
CONFIG_NAME = "hpcdask"

_UNSET_LISTS = (
    "worker-extra-args", "job-script-prologue", "job-extra-directives", "job-directives-skip",
    "submit-command-extra", "cancel-command-extra",
)  # fmt: skip
_UNSET = (
    "name", "cores", "memory", "processes", "python", "interface", "local-directory",
    "shared-temp-directory", "extra", "queue", "account", "project", "walltime", "env-extra",
    "resource-spec", "job-extra", "header-skip", "log-directory", "job-cpu", "job-mem", "ncpus",
    "mem", "lsf-units", "use-stdin", "disk", "memory-per-core-property-name",
)  # fmt: skip
_NEUTRAL: dict[str, Any] = {
    **dict.fromkeys(_UNSET),
    **{key: [] for key in _UNSET_LISTS},
    "death-timeout": 60,
    "worker-command": "distributed.cli.dask_worker",
    "shebang": "#!/usr/bin/env bash",
    "scheduler-options": {},
}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quiet_import() -> None:
    """Import dask_jobqueue without its side effects on the user's process.

    Its first import copies its config into ``~/.config/dask/jobqueue.yaml``, and
    ``dask_jobqueue.runner`` sets the SIGINT handler to ``sys.exit``: Ctrl-C in a user's
    script or notebook would then exit silently, and importing it outside the main thread
    fails. Both calls are made no-ops for the time of the import.
    """
    if "dask_jobqueue" in sys.modules:
        return
    ensure_file, set_handler = dask.config.ensure_file, signal.signal

    def keep_sigint(signum: Any, handler: Any) -> Any:
        if signum == signal.SIGINT:
            return signal.getsignal(signum)
        return set_handler(signum, handler)

    dask.config.ensure_file = lambda *args, **kwargs: None
    setattr(signal, "signal", keep_sigint)  # noqa: B010 (a typed assignment would not pass)
    try:
        import dask_jobqueue  # noqa: F401 (lazy: imported here, its side effects disabled)
    finally:
        dask.config.ensure_file, signal.signal = ensure_file, set_handler


def use_neutral_config() -> None:
    """Import dask_jobqueue quietly; make sure dask config has the neutral section.

    The section goes into dask's defaults, in memory; it is added again if something replaced
    the whole ``jobqueue`` config since (``dask.config.set({"jobqueue": {...}})``).
    """
    quiet_import()
    if dask.config.get(f"jobqueue.{CONFIG_NAME}", None) is None:
        dask.config.update_defaults({"jobqueue": {CONFIG_NAME: _NEUTRAL}})


def dask_jobqueue() -> Any:
    """Return the ``dask_jobqueue`` module, imported quietly (see :func:`quiet_import`).

    Its classes are untyped: seen as Any, so that hpcdask's own code stays typed.
    """
    quiet_import()
    return importlib.import_module("dask_jobqueue")


def require_startable(resource: JobqueueResource) -> None:
    """Raise unless ``resource`` has what a worker job needs.

    Raises
    ------
    ConfigError
        Naming the missing keys (cores, memory; disk for HTCondor) or bad env names.
    """
    where = f"{resource.origin or 'call arguments'}: resource '{resource.name}'"
    lines = []
    for key, value in (("cores", resource.worker.cores), ("memory", resource.worker.memory)):
        if not value:
            lines.append(f"{where}: worker.{key}: required to start {resource.type} workers "
                         f"(the {key} of one job)")  # fmt: skip
    lines += [f"{where}: {problem}" for problem in system_of(resource).missing(resource)]
    lines += [
        f"{where}: worker.env: {name!r} is not an environment variable name"
        for name in resource.worker.env
        if not _ENV_NAME.match(name)
    ]
    if lines:
        raise ConfigError(lines)


def layout(resource: JobqueueResource) -> tuple[int, int]:
    """Return (worker processes per job, threads per worker process)."""
    worker = resource.worker
    cores = worker.cores or 1
    processes = worker.processes
    if processes is None and worker.nthreads:
        processes = max(1, cores // worker.nthreads)
    if processes is None:
        processes = int(nprocesses_nthreads(cores)[0])  # type: ignore[no-untyped-call]
    return processes, worker.nthreads or max(1, cores // processes)


def lifetime(resource: JobqueueResource) -> tuple[int, int] | None:
    """Return the workers' (lifetime, stagger) in seconds, or None for jobs without a time
    limit (HTCondor's, unless a ``walltime`` is given).

    Workers retire at walltime - margin ± stagger, the stagger being half the margin (at most
    a quarter of the lifetime): the last one still leaves half the margin before the walltime.

    Examples
    --------
    >>> from hpcdask.models import SlurmResource
    >>> lifetime(SlurmResource(name="x", walltime="01:00:00", walltime_margin="2m"))
    (3480, 60)
    """
    walltime = resource.walltime or resource.job_walltime()
    if walltime is None:
        return None
    margin = duration_seconds(resource.walltime_margin)
    life = walltime_seconds(walltime) - margin
    return int(life), int(min(margin / 2, life / 4))


def _worker_args(resource: JobqueueResource) -> list[str]:
    args = list(resource.worker_extra_args)
    life = lifetime(resource)
    if life and not any(arg.startswith("--lifetime") for arg in args):
        args += ["--lifetime", f"{life[0]}s", "--lifetime-stagger", f"{life[1]}s"]
    if resource.worker.gpus and not any(arg.startswith("--resources") for arg in args):
        args += ["--resources", f"GPU={resource.worker.gpus}"]
    return args


def _prologue(resource: JobqueueResource) -> list[str]:
    worker = resource.worker
    env = {**worker.env, **inherited_config(resource, None)}  # TLS: dask-jobqueue's files
    lines = [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    if worker.nice is not None:  # CPU priority on the node, not the job's queue priority
        lines.append(f"renice -n {worker.nice} -p $$ > /dev/null "
                     f"|| echo 'hpcdask: cannot set niceness {worker.nice}' >&2")  # fmt: skip
    return lines + list(resource.job_script_prologue)


def gpus_per_job(resource: JobqueueResource) -> int:
    """Return the GPUs one job asks for: the workers' GPUs times the workers per job."""
    return resource.worker.gpus * layout(resource)[0]


def job_kwargs(resource: JobqueueResource) -> dict[str, Any]:
    """Return every keyword of one worker job (hpcdask's job classes take all of them)."""
    use_neutral_config()
    worker = resource.worker
    processes, threads = layout(resource)
    system, gpus = system_of(resource), gpus_per_job(resource)
    return {
        "cores": worker.cores,
        "memory": worker.memory,
        "processes": processes,
        "nthreads": threads,
        "nanny": True,
        "death_timeout": resource.death_timeout,
        "local_directory": worker.local_directory,
        "worker_command": resource.worker_command,
        "worker_extra_args": _worker_args(resource),
        "job_extra_directives": system.directives(resource, gpus),
        "job_directives_skip": list(resource.job_directives_skip),
        "job_script_prologue": _prologue(resource),
        "log_directory": resource.log_directory,
        "shebang": resource.shebang,
        "python": worker.python or sys.executable,
        "job_name": resource.job_name,
        "config_name": CONFIG_NAME,
        **system.keywords(resource, gpus),
    }


def scheduler_options(resource: JobqueueResource) -> dict[str, Any]:
    """Return the scheduler's options: its own interface or host, apart from the workers',
    over the resource's ``scheduler-options`` (dask-jobqueue's, for the ``Scheduler``)."""
    options: dict[str, Any] = {
        **resource.scheduler_options,
        "dashboard_address": resource.dashboard_address,
        "protocol": None,
        "security": None,
    }
    if resource.scheduler_host:
        options["host"] = resource.scheduler_host
    else:  # like dask-jobqueue, the workers' interface unless the scheduler has its own
        options["interface"] = resource.scheduler_interface or resource.interface
    return options


def cluster_kwargs(resource: JobqueueResource, security: Security | None = None) -> dict[str, Any]:
    """Return every keyword of the cluster class, the job keywords included.

    With ``security``, scheduler and workers talk TLS; dask-jobqueue writes the workers'
    credentials (0600 files) into ``shared-temp-directory`` (default: hpcdask's private state
    folder), which the compute nodes must see.
    """
    options = scheduler_options(resource)
    tls: dict[str, Any] = {"security": None, "shared_temp_directory": None, "protocol": None}
    if security is not None:
        folder = resource.shared_temp_directory or str(state_dir())
        tls = {"security": security, "shared_temp_directory": folder, "protocol": "tls://"}
        options.update(security=security, protocol="tls://")
    return {
        "n_workers": 0,
        "name": resource.name,
        "asynchronous": False,
        "silence_logs": logging.WARNING,
        "scheduler_options": options,
        "interface": resource.interface,
        **tls,
        **job_kwargs(resource),
    }
