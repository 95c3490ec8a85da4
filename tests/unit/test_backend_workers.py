"""The workers hpcdask starts itself (ssh, pilots): their nanny options and inherited config,
built once in ``hpcdask.backends.workers``."""

from __future__ import annotations

from typing import Any

import dask.config
from distributed.security import Security

from hpcdask.backends.workers import INHERIT_CONFIG, inherited_config, worker_options
from hpcdask.models import SlurmResource, SSHResource
from hpcdask.pilot.backend import _env, nanny_options
from hpcdask.security import as_dask_config

DASK = {"distributed.worker.memory.spill": 0.9}
SPILL = {"distributed": {"worker": {"memory": {"spill": 0.9}}}}


def _ssh(**keys: Any) -> SSHResource:
    return SSHResource(name="lab", hosts=["ws1"], **keys)


def _slurm(**keys: Any) -> SlurmResource:
    return SlurmResource(name="hpc", **keys)


def _inherited(env: dict[str, str]) -> Any:
    return dask.config.deserialize(env[INHERIT_CONFIG])


def test_plain_workers_get_the_death_timeout_only() -> None:
    assert worker_options(_ssh(), None) == {"death_timeout": 60.0}
    assert inherited_config(_ssh(), None) == {}
    assert _env(_slurm(worker={"env": {"A": "1"}}), None) == {"A": "1"}


def test_gpus_and_tls_for_ssh_and_pilot_workers_alike() -> None:
    security = Security.temporary()  # type: ignore[no-untyped-call]
    shared = {"death_timeout": 30.0, "protocol": "tls", "resources": {"GPU": 2}}
    assert worker_options(_ssh(worker={"gpus": 2}, death_timeout=30), security) == shared
    worker = {"cores": 4, "processes": 2, "memory": "4GB", "gpus": 2}
    pilot = nanny_options(_slurm(worker=worker, death_timeout=30), security)
    assert pilot == {"nthreads": 2, "memory_limit": 2_000_000_000, **shared}


def test_dask_block_and_credentials_travel_in_one_variable() -> None:
    security = Security.temporary()  # type: ignore[no-untyped-call]
    expected = dask.config.merge(SPILL, as_dask_config(security))
    assert _inherited(inherited_config(_ssh(dask=DASK), security)) == expected
    env = _env(_slurm(dask=DASK, worker={"env": {"A": "1"}}), security)
    assert env["A"] == "1" and _inherited(env) == expected
    assert _inherited(inherited_config(_ssh(dask=DASK), None)) == SPILL
