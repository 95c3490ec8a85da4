"""dask-jobqueue's keys and spellings mean here what they mean there; errors come all at once."""

from __future__ import annotations

import json
import logging
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import hpcdask
from hpcdask import ConfigError
from hpcdask._model import suggest
from hpcdask.backends.jobqueue import dialect_for, job_script
from hpcdask.cli.main import cli
from hpcdask.models import HTCondorResource, PBSResource, SGEResource, SlurmResource
from hpcdask.models.keys import rename

WORKER = {"cores": 2, "memory": "4GB"}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # messages name x.yaml relative to the current folder


def _load(tmp_path: Path, body: str, name: str = "a") -> Any:
    path = tmp_path / "x.yaml"
    path.write_text("resources:\n" + textwrap.indent(textwrap.dedent(body), "  "))
    return hpcdask.load_resource(name, config=path)


@pytest.mark.parametrize(
    ("old", "new", "value"),
    [
        ("job-extra", "job_extra_directives", ("--exclusive",)),
        ("env-extra", "job_script_prologue", ("module load python",)),
        ("extra", "worker_extra_args", ("--no-dashboard",)),
        ("header-skip", "job_directives_skip", ("-J",)),
    ],
)
def test_deprecated_keys_read_as_dask_jobqueue_reads_them(
    tmp_path: Path, old: str, new: str, value: tuple[str, ...], caplog: Any
) -> None:
    body = f"a: {{type: slurm, {old}: {json.dumps(list(value))}}}\n"
    with caplog.at_level(logging.WARNING, logger="hpcdask.resource"):
        resource = _load(tmp_path, body)
    assert getattr(resource, new) == value
    current = new.replace("_", "-")
    assert caplog.messages == [
        f"x.yaml: resource 'a': {old}: read as {current} (dask-jobqueue deprecated {old})"
    ]


def test_deprecated_key_is_ignored_when_the_current_one_is_set() -> None:
    data, _, notes = rename(
        PBSResource, {"job-extra": ["-m n"], "job-extra-directives": ["-m a"]}, {}
    )
    assert data == {"job-extra-directives": ["-m a"]}
    assert notes == ["job-extra: ignored, as dask-jobqueue does, since job-extra-directives "
                     "is set (dask-jobqueue deprecated job-extra)"]  # fmt: skip
    data, _, _ = rename(PBSResource, {"job-extra": ["-m n"], "job-extra-directives": []}, {})
    assert data == {"job_extra_directives": ["-m n"]}  # an empty list counts as unset there


@pytest.mark.parametrize(
    ("kind", "line"),
    [("slurm", "#SBATCH -A p42"), ("pbs", "#PBS -A p42"), ("moab", "#PBS -A p42"),
     ("sge", "#$ -P p42"), ("lsf", '#BSUB -P "p42"'), ("oar", "#OAR --project p42")],
)  # fmt: skip
def test_project_as_dask_jobqueue_means_it(tmp_path: Path, kind: str, line: str) -> None:
    extra = ", memory-per-core-property-name: memcore" if kind == "oar" else ""
    body = f"a: {{type: {kind}, project: p42, name: site-dask, cores: 2, memory: 4GB{extra}}}\n"
    resource = _load(tmp_path, body)
    assert (resource.account, resource.job_name) == ("p42", "site-dask")
    assert line in job_script(resource).splitlines()


def test_project_and_account_for_sge_are_one_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, "a: {type: sge, project: p1, account: p2}\n")
    assert str(error.value) == (
        "x.yaml: resource 'a': project: the same key as account (dask-jobqueue's name for it); "
        "give one"
    )


def test_name_is_the_job_name_and_job_name_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="name: the same key as job-name"):
        _load(tmp_path, "a: {type: slurm, name: x, job-name: y}\n")
    with pytest.raises(ConfigError, match="name: set by hpcdask"):  # not a batch key
        _load(tmp_path, "a: {type: local, name: x}\n")


def test_htcondor_mapping_directives_shebang_and_command_extras(tmp_path: Path) -> None:
    body = """\
    a:
      type: htcondor
      cores: 1
      memory: 2GB
      disk: 1GB
      job-extra-directives: {+JobFlavour: '"tomorrow"', request_gpus: 1, Stream_Output: true}
      submit-command-extra: [-name, sched1]
      cancel-command-extra: [-name, sched1]
      tls: false
    """
    resource = _load(tmp_path, body)
    assert isinstance(resource, HTCondorResource)
    lines = job_script(resource).splitlines()
    assert lines[0] == "#!/usr/bin/env condor_submit"
    assert {'+JobFlavour = "tomorrow"', "request_gpus = 1", "Stream_Output = True"} <= set(lines)
    dialect = dialect_for(resource)
    assert dialect.submission("S")[0] == ["condor_submit", "-name", "sched1", "-"]
    assert dialect.cancel_command(["7.0"]) == ["condor_rm", "-name", "sched1", "7.0"]


def test_sge_walltime_in_seconds_as_written() -> None:
    resource = SGEResource(name="g", walltime="3600", worker=WORKER, tls=False)
    assert "#$ -l h_rt=3600" in job_script(resource).splitlines()
    assert "--lifetime 3480s" in job_script(resource)


def test_slurm_job_mem_and_cpu_reach_slurm_as_written(tmp_path: Path) -> None:
    resource = _load(tmp_path, "a: {type: slurm, cores: 4, memory: 8GB, job-mem: 120GB, "
                               "job-cpu: 8}\n")  # fmt: skip
    lines = job_script(resource).splitlines()
    assert "#SBATCH --mem=120GB" in lines and "#SBATCH --cpus-per-task=8" in lines


def test_worker_command_and_scheduler_options() -> None:
    from hpcdask.backends.jobqueue.args import scheduler_options

    slurm = SlurmResource(
        name="s", worker=WORKER, worker_command="dask_cuda.cli", tls=False,
        scheduler_options={"port": 8786, "dashboard_address": ":1"},
    )  # fmt: skip
    assert "-m dask_cuda.cli tcp://" in job_script(slurm)
    options = scheduler_options(slurm)
    assert options["port"] == 8786 and options["dashboard_address"] == "127.0.0.1:8787"


def test_show_credits_the_file_for_top_level_worker_keys_and_lists_renames(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("resources:\n  a: {type: slurm, cores: 2, memory: 4GB, processes: 1, "
                    "local-directory: /tmp, env-extra: [echo hi]}\n")  # fmt: skip
    result = CliRunner().invoke(cli, ["--config", str(path), "show", "a", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    keys = {row["key"]: row["source"] for row in shown["keys"]}
    for key in ("cores", "memory", "processes", "local-directory"):
        assert keys[f"worker.{key}"] != "default", key
    assert keys["job-script-prologue"] != "default"
    assert shown["renamed"][0].endswith("env-extra: read as job-script-prologue "
                                        "(dask-jobqueue deprecated env-extra)")  # fmt: skip


def test_every_error_of_a_resource_at_once(tmp_path: Path) -> None:
    body = "a: {type: slurm, partition: x, waltime: 1, worker: {cores: many, memroy: 1GB}}\n"
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, body)
    assert sorted(error.value.lines) == sorted([
        "x.yaml: resource 'a': partition: unknown key (did you mean 'queue'?)",
        "x.yaml: resource 'a': waltime: unknown key (did you mean 'walltime'?)",
        "x.yaml: resource 'a': worker.cores: expected a whole number, got 'many'",
        "x.yaml: resource 'a': worker.memroy: unknown key (did you mean 'memory'?)",
    ])  # fmt: skip


def test_suggestions_come_from_known_aliases_first() -> None:
    slurm = ["job-mem", "job-cpu", "job-extra-directives", "queue", "memory", "cores"]
    assert suggest("job_extra", slurm) == " (did you mean 'job-extra-directives'?)"
    assert suggest("mem", slurm) == " (did you mean 'job-mem'?)"
    assert suggest("ncpus", ["cores", "memory"]) == " (did you mean 'cores'?)"
    assert suggest("quee", slurm) == " (did you mean 'queue'?)"  # then the nearest key
