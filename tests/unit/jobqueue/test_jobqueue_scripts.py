"""Job scripts of the batch types: every key reaches the script, line for line, per system."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask.config
import pytest
from click.testing import CliRunner

from hpcdask.backends.jobqueue import job_script
from hpcdask.backends.jobqueue.args import cluster_kwargs, lifetime, scheduler_options
from hpcdask.backends.jobqueue.build import handover_after
from hpcdask.cli.main import cli
from hpcdask.errors import ConfigError, UnsupportedTypeError
from hpcdask.models import JobqueueResource, SGEResource, SlurmResource
from hpcdask.resource import TYPES

#: Every shared key set to a non-default value.
COMMON: dict[str, Any] = {
    "name": "lab",
    "worker": {
        "cores": 8,
        "memory": "16GB",
        "processes": 2,
        "python": "/opt/py/bin/python",
        "local_directory": "/scratch/dask",
        "env": {"OMP_NUM_THREADS": 1, "PROJECT": "a b"},
        "nice": 10,
        "gpus": 1,
    },
    "walltime": "02:00:00",
    "walltime_margin": "5m",
    "job_name": "dask",
    "job_script_prologue": ["module load python"],
    "worker_extra_args": ["--no-dashboard"],
    "log_directory": "/logs",
    "death_timeout": 30,
    "interface": "ib0",
    "shebang": "#!/bin/bash -l",
    "tls": False,  # see test_tls_workers_get_credential_files
}
#: Every system's own keys.
OWN: dict[str, dict[str, Any]] = {
    "slurm": {"queue": "normal", "account": "proj42", "job_cpu": 16, "job_mem": "20GB",
              "job_extra_directives": ["--constraint=a100"], "job_directives_skip": ["-J "]},
    "pbs": {"queue": "workq", "account": "proj42", "job_extra_directives": ["-m n"]},
    "moab": {"queue": "batch", "account": "proj42", "resource_spec": "nodes=1:ppn=8:gpus=2",
             "job_extra_directives": ["-m n"]},
    "sge": {"queue": "all.q", "account": "proj42", "resource_spec": "h_vmem=16G",
            "job_extra_directives": ["-pe smp 8"]},
    "lsf": {"queue": "normal", "account": "proj42", "ncpus": 8, "mem": "20GB", "lsf_units": "mb",
            "job_extra_directives": ['-R "select[avx]"']},
    "htcondor": {"disk": "10GB", "job_extra_directives": ['+JobFlavour = "longlunch"'],
                 "job_directives_skip": ["Stream_Error"]},
    "oar": {"queue": "default", "account": "proj42", "memory_per_core_property_name": "memcore",
            "job_extra_directives": ["-t besteffort"]},
}  # fmt: skip

PROLOGUE = [
    "export OMP_NUM_THREADS=1",
    "export PROJECT='a b'",
    "renice -n 10 -p $$ > /dev/null || echo 'hpcdask: cannot set niceness 10' >&2",
    "module load python",
]
WORKER = (
    "/opt/py/bin/python -m distributed.cli.dask_worker tcp://SCHEDULER-ADDRESS:8786 --name lab-0"
    " --nthreads 4 --memory-limit 7.45GiB --nworkers 2 --nanny --death-timeout 30"
    " --local-directory /scratch/dask --no-dashboard --lifetime 6900s --lifetime-stagger 150s"
    " --resources GPU=1 --interface ib0"
)
HEADERS = {
    "slurm": [
        "#SBATCH -e /logs/dask-%J.err",  # job name line skipped by job-directives-skip
        "#SBATCH -o /logs/dask-%J.out",
        "#SBATCH -p normal",
        "#SBATCH -A proj42",
        "#SBATCH -n 1",
        "#SBATCH --cpus-per-task=16",
        "#SBATCH --mem=20GB",  # job-mem as written, as dask-jobqueue writes it
        "#SBATCH -t 02:00:00",
        "#SBATCH --gres=gpu:2",  # 1 GPU per worker process, 2 processes
        "#SBATCH --constraint=a100",
    ],
    "pbs": [
        "#PBS -N dask",
        "#PBS -q workq",
        "#PBS -A proj42",
        "#PBS -l select=1:ncpus=8:mem=15GB:ngpus=2",
        "#PBS -l walltime=02:00:00",
        "#PBS -e /logs/",
        "#PBS -o /logs/",
        "#PBS -m n",
    ],
    "moab": [
        "#PBS -N dask",
        "#PBS -q batch",
        "#PBS -A proj42",
        "#PBS -l nodes=1:ppn=8:gpus=2",
        "#PBS -l walltime=02:00:00",
        "#PBS -e /logs/",
        "#PBS -o /logs/",
        "#PBS -m n",
    ],
    "sge": [
        "#$ -N dask",
        "#$ -q all.q",
        "#$ -P proj42",
        "#$ -l h_vmem=16G",
        "#$ -l h_rt=02:00:00",
        "#$ -e /logs/",
        "#$ -o /logs/",
        "#$ -cwd",
        "#$ -j y",
        "#$ -l gpu=2",
        "#$ -pe smp 8",
    ],
    "lsf": [
        "#BSUB -J dask",
        "#BSUB -e /logs/lab-0-%J.err",
        "#BSUB -o /logs/lab-0-%J.out",
        "#BSUB -q normal",
        '#BSUB -P "proj42"',
        "#BSUB -n 8",
        '#BSUB -R "span[hosts=1]"',
        "#BSUB -M 20000",
        "#BSUB -W 02:00",
        '#BSUB -gpu "num=2"',
        '#BSUB -R "select[avx]"',
    ],
    "oar": [
        "#OAR -n dask",
        "#OAR -q default",
        "#OAR --project proj42",
        "#OAR -l /nodes=1/gpu=2,walltime=02:00:00",
        "#OAR -t besteffort",
        "#OAR -p memcore>=1908",
    ],
}
HTCONDOR = [
    "#!/bin/bash -l",
    "",
    'MY.DaskWorkerName = "htcondor--$F(MY.JobId)--"',
    "batch_name = lab-0",
    "RequestCpus = MY.DaskWorkerCores",
    "RequestMemory = floor(MY.DaskWorkerMemory / 1048576)",
    "RequestDisk = floor(MY.DaskWorkerDisk / 1024)",
    'MY.JobId = "$(ClusterId).$(ProcId)"',
    "MY.DaskWorkerCores = 8",
    "MY.DaskWorkerMemory = 16000000000",
    "MY.DaskWorkerDisk = 10000000000",
    "LogDirectory = /logs",
    "Output = $(LogDirectory)/worker-$F(MY.JobId).out",
    "Error = $(LogDirectory)/worker-$F(MY.JobId).err",
    "Log = $(LogDirectory)/worker-$(ClusterId).log",
    "Stream_Output = True",
    "request_gpus = 2",
    '+JobFlavour = "longlunch"',
    "",
    "Arguments = \"-c 'export OMP_NUM_THREADS=1; export PROJECT=''a b''; "
    "renice -n 10 -p $$ > /dev/null || echo ''hpcdask: cannot set niceness 10'' >&2; "
    f"module load python; {WORKER}'\"",
    "Executable = /bin/sh",
    "",
    "Queue",
]


def resource(kind: str, **changes: Any) -> JobqueueResource:
    data = {**COMMON, **OWN[kind], **changes}
    model = TYPES[kind].model_validate(data)
    assert isinstance(model, JobqueueResource)
    return model


@pytest.mark.parametrize("kind", sorted(HEADERS))
def test_job_script_has_every_key(kind: str) -> None:
    lines = job_script(resource(kind)).splitlines()
    assert lines == ["#!/bin/bash -l", "", *HEADERS[kind], *PROLOGUE, WORKER]


def test_htcondor_submit_file_has_every_key() -> None:
    assert job_script(resource("htcondor")).splitlines() == HTCONDOR


def test_minimal_slurm_script_uses_this_python_and_dask_jobqueues_walltime() -> None:
    import sys

    minimal = SlurmResource(name="m", worker={"cores": 1, "memory": "1GB"}, tls=False)
    lines = job_script(minimal).splitlines()
    assert lines == [
        "#!/usr/bin/env bash",
        "",
        "#SBATCH -J hpcdask-worker",
        "#SBATCH -n 1",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --mem=954M",
        "#SBATCH -t 00:30:00",  # dask-jobqueue's default walltime
        "",
        f"{sys.executable} -m distributed.cli.dask_worker tcp://SCHEDULER-ADDRESS:8786 --name m-0 "
        "--nthreads 1 --memory-limit 0.93GiB --nanny --death-timeout 60"
        " --lifetime 1680s --lifetime-stagger 60s",
    ]


def test_users_jobqueue_config_does_not_leak_in() -> None:
    leaked = {
        "queue": "leaked", "account": "leaked", "project": "leaked", "walltime": "99:00:00",
        "extra": ["--leaked"], "worker-extra-args": ["--leaked"], "env-extra": ["echo leaked"],
        "job-script-prologue": ["echo leaked"], "job-extra": ["--leaked"],
        "job-extra-directives": ["--leaked"], "header-skip": ["-n 1"], "python": "/leaked",
        "scheduler-options": {"host": "leaked"}, "interface": "leaked", "death-timeout": 1,
    }  # fmt: skip
    minimal = SlurmResource(name="m", worker={"cores": 1, "memory": "1GB"})
    clean = job_script(minimal)
    with dask.config.set({"jobqueue": {"slurm": leaked, "pbs": leaked, "sge": leaked}}):
        assert job_script(minimal) == clean
        assert "leaked" not in str(cluster_kwargs(minimal))
    assert "leaked" not in clean and "-n 1" in clean


def test_tls_workers_get_credential_files() -> None:
    """Non-local clusters use TLS by default: workers read their credentials from files."""
    command = job_script(SlurmResource(name="m", worker={"cores": 1, "memory": "1GB"}))
    files = "SHARED-TEMP-DIRECTORY/.dask-jobqueue.worker"
    assert command.splitlines()[-1].endswith(
        f" --death-timeout 60 --lifetime 1680s --lifetime-stagger 60s --protocol tls://"
        f" --tls-ca-file {files}.ca_file"
        f" --tls-cert {files}.cert --tls-key {files}.key"
    )


def test_tls_cluster_keywords(tmp_path: Path) -> None:
    from distributed.security import Security

    security = Security.temporary()
    model = SlurmResource(name="x", shared_temp_directory=str(tmp_path))
    kwargs = cluster_kwargs(model, security)
    assert (kwargs["security"], kwargs["protocol"]) == (security, "tls://")
    assert kwargs["shared_temp_directory"] == str(tmp_path)
    options = kwargs["scheduler_options"]
    assert (options["security"], options["protocol"]) == (security, "tls://")
    default = cluster_kwargs(SlurmResource(name="x"), security)["shared_temp_directory"]
    assert default.endswith("hpcdask")  # the private state folder


def test_sge_empty_resource_spec_writes_no_bare_directive() -> None:
    script = job_script(
        SGEResource(name="g", resource_spec="", worker={"cores": 1, "memory": "1GB"})
    )
    assert all(line.strip() != "#$ -l" for line in script.splitlines())
    assert SGEResource(name="g", resource_spec="  ").resource_spec is None


@pytest.mark.parametrize(
    ("walltime", "margin", "seconds", "expected", "successor"),
    [
        ("01:00:00", "2m", 120.0, (3480, 60), 3300.0),  # a margin before the first retirement
        ("00:01:00", "20s", 20.0, (40, 10), 20.0),  # but not before half the lifetime
        ("12:00:00", "10m", 600.0, (42600, 300), 41700.0),
        ("00:30:00", "0s", 0.0, (1800, 0), 1800.0),
    ],
)
def test_lifetime_from_walltime_minus_margin(
    walltime: str, margin: str, seconds: float, expected: tuple[int, int], successor: float
) -> None:
    model = SlurmResource(name="x", walltime=walltime, walltime_margin=margin)
    assert lifetime(model) == expected
    assert handover_after(lifetime(model), seconds) == successor


def test_no_walltime_is_dask_jobqueues_and_htcondor_has_none() -> None:
    model = SlurmResource(name="x", worker={"cores": 1, "memory": "1GB"})
    assert lifetime(model) == (1680, 60)  # 00:30:00, dask-jobqueue's default, minus 2m
    condor = TYPES["htcondor"](name="x", worker={"cores": 1, "memory": "1GB"}, disk="1GB")
    assert lifetime(condor) is None  # type: ignore[arg-type]
    assert "--lifetime" not in job_script(condor)  # type: ignore[arg-type]


def test_users_lifetime_and_resources_win() -> None:
    model = SlurmResource(
        name="x", walltime="01:00:00", worker={"cores": 1, "memory": "1GB", "gpus": 2}, tls=False,
        worker_extra_args=["--lifetime", "10m", "--resources", "GPU=1,FPGA=1"],
    )  # fmt: skip
    command = job_script(model).splitlines()[-1]
    assert command.endswith("--lifetime 10m --resources GPU=1,FPGA=1")
    assert command.count("--lifetime") == 1 and command.count("--resources") == 1


@pytest.mark.parametrize(
    ("kind", "changes", "line"),
    [
        ("slurm", {}, "#SBATCH --gres=gpu:2"),
        ("sge", {}, "#$ -l gpu=2"),
        ("lsf", {}, '#BSUB -gpu "num=2"'),
        ("pbs", {}, "#PBS -l select=1:ncpus=8:mem=15GB:ngpus=2"),
        ("moab", {"resource_spec": None}, "#PBS -l select=1:ncpus=8:mem=15GB:ngpus=2"),
        ("oar", {}, "#OAR -l /nodes=1/gpu=2,walltime=02:00:00"),
        ("htcondor", {}, "request_gpus = 2"),
        ("slurm", {"job_directives_skip": ["--gres"]}, None),
    ],
)
def test_gpu_directives(kind: str, changes: dict[str, Any], line: str | None) -> None:
    script = job_script(resource(kind, **changes))
    gpu_lines = [s for s in script.splitlines() if "gpu" in s.lower() and "GPU=1" not in s]
    assert gpu_lines == ([line] if line else [])
    assert "--resources GPU=1" in script


def test_no_gpus_no_directive() -> None:
    for kind in OWN:
        worker = {**COMMON["worker"], "gpus": 0}
        spec = {"resource_spec": None} if kind == "moab" else {}
        script = job_script(resource(kind, worker=worker, **spec))
        assert "gpu" not in script.lower(), kind


def test_scheduler_interface_and_host_apart_from_workers() -> None:
    model = SlurmResource(name="x", interface="ib0", scheduler_interface="eth1")
    assert scheduler_options(model)["interface"] == "eth1"
    model = SlurmResource(name="x", interface="ib0", scheduler_host="10.0.0.1")
    assert scheduler_options(model)["host"] == "10.0.0.1" and "interface" not in scheduler_options(
        model
    )
    assert scheduler_options(SlurmResource(name="x", interface="ib0"))["interface"] == "ib0"
    kwargs = cluster_kwargs(SlurmResource(name="x", worker={"cores": 1, "memory": "1GB"}))
    assert kwargs["config_name"] == "hpcdask" and kwargs["n_workers"] == 0
    assert kwargs["scheduler_options"] == {
        "dashboard_address": "127.0.0.1:8787", "protocol": None, "security": None,
        "interface": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "changes", "message"),
    [
        ("slurm", {"worker": {"memory": "1GB"}}, "worker.cores: required to start slurm workers"),
        ("pbs", {"worker": {"cores": 1}}, "worker.memory: required to start pbs workers"),
        ("htcondor", {"disk": None}, "disk: required to start htcondor workers"),
        ("slurm", {"worker": {**COMMON["worker"], "env": {"A B": 1}}}, "'A B' is not an env"),
    ],
)
def test_missing_keys_are_named(kind: str, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        job_script(resource(kind, **changes))


def test_pilot_resources_are_not_started_as_one_job_per_worker_group() -> None:
    from fakeshell import FakeShell

    from hpcdask.backends.jobqueue import JobqueueBackend

    shell = FakeShell()
    with pytest.raises(UnsupportedTypeError, match="started by the pilot backend"):
        JobqueueBackend(shell).cluster(resource("slurm", allocation={"nodes": 2}))
    assert not shell.calls


def test_show_prints_the_job_script(isolated_config: Path) -> None:
    (isolated_config / "configs").mkdir()
    (isolated_config / "configs" / "b.yaml").write_text(
        "resources:\n  b: {type: sge, queue: all.q, worker: {cores: 2, memory: 2GB}}\n"
        "  c: {type: sge, queue: all.q}\n"
    )
    result = CliRunner().invoke(cli, ["show", "b"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = lines.index("job script (one job; the scheduler address is known once it runs):")
    assert lines[start + 1 : start + 4] == ["#!/usr/bin/env bash", "", "#$ -N hpcdask-worker"]
    result = CliRunner().invoke(cli, ["show", "c"])
    assert result.exit_code == 0
    assert "job script: cannot be written: " in result.stdout
    assert "worker.cores: required to start sge workers" in result.stdout


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"walltime": "00:01:00", "walltime_margin": "2m"}, "walltime-margin: 2m leaves no time"),
        ({"walltime_margin": "soon"}, "'soon' is not a duration"),
        ({"scheduler_host": "10.0.0.1", "scheduler_interface": "ib0"}, "not both"),
        ({"type": "pbs", "resource_spec": "select=1:ncpus=8", "worker": {"gpus": 1}},
         "worker.gpus: with your own resource-spec, request the GPUs in it"),
        ({"type": "htcondor", "queue": "long"}, "queue: HTCondor has no queues"),
        ({"type": "htcondor", "job_extra_directives": ["+Flavour"]}, "is not a submit command"),
        ({"type": "htcondor", "job_directives_skip": ["Output"]},
         "job-directives-skip: 'Output' is not a submit command hpcdask writes"),
    ],
)  # fmt: skip
def test_batch_keys_are_validated(keys: dict[str, Any], message: str) -> None:
    kind = keys.pop("type", "slurm")
    with pytest.raises(ValueError, match=message):
        TYPES[kind].model_validate({"name": "x", **keys})
