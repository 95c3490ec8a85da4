"""``hpcdask import``: a jobqueue.yaml with all seven sections round-trips, proven per section."""

from __future__ import annotations

from pathlib import Path

import dask.config
import pytest
import yaml
from click.testing import CliRunner

import hpcdask
from hpcdask.cli.main import cli

#: Every section, in dask-jobqueue's spellings (deprecated ones too).
JOBQUEUE = {
    "slurm": {"cores": 24, "memory": "120GB", "job-mem": "120GB", "queue": "regular",
              "project": "p1", "walltime": "01:00:00", "job-extra": ["--exclusive"],
              "env-extra": ["module load python"], "name": "site-dask"},
    "pbs": {"cores": 36, "memory": "100GB", "queue": "regular", "account": "p1",
            "resource-spec": "select=1:ncpus=36:mem=109GB", "walltime": "02:00:00",
            "interface": "ib0", "local-directory": "$TMPDIR"},
    "sge": {"cores": 8, "memory": "16GB", "project": "p1", "resource-spec": "h_vmem=2G",
            "walltime": "3600", "header-skip": ["-cwd"]},
    "lsf": {"cores": 15, "memory": "25GB", "project": "DaskonLSF", "queue": "general",
            "walltime": "00:30", "lsf-units": "mb", "use-stdin": True},
    "htcondor": {"cores": 1, "memory": "2GB", "disk": "1GB",
                 "job-extra-directives": {"+JobFlavour": '"tomorrow"'},
                 "submit-command-extra": ["-name", "sched"], "extra": ["--no-dashboard"]},
    "oar": {"cores": 4, "memory": "8GB", "queue": "default", "project": "p1",
            "memory-per-core-property-name": "memcore", "walltime": "01:00:00"},
    "moab": {"cores": 8, "memory": "16GB", "queue": "batch", "account": "p1",
             "resource-spec": "nodes=1:ppn=8", "walltime": "01:00:00"},
}  # fmt: skip


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_all_seven_sections_round_trip(tmp_path: Path) -> None:
    source, target = tmp_path / "jobqueue.yaml", tmp_path / "hpc.yaml"
    source.write_text(yaml.safe_dump({"jobqueue": JOBQUEUE}))
    code, out = _invoke("import", str(source), "-o", str(target))
    assert code == 0, out
    for kind in JOBQUEUE:
        assert f"  {kind}: same job script as dask-jobqueue's" in out
    assert "slurm: renamed job-extra: read as job-extra-directives" in out
    written = yaml.safe_load(target.read_text())["resources"]
    assert set(written) == set(JOBQUEUE)
    assert written["slurm"]["worker"] == {"cores": 24, "memory": "120GB"}
    assert written["slurm"]["job-extra-directives"] == ["--exclusive"]
    assert written["pbs"]["job-name"] == "dask-worker"  # dask-jobqueue's default job name
    for kind in JOBQUEUE:
        assert hpcdask.load_resource(kind, config=target).type == kind


def test_never_overwrites_without_force(tmp_path: Path) -> None:
    source, target = tmp_path / "jobqueue.yaml", tmp_path / "hpc.yaml"
    source.write_text(yaml.safe_dump({"jobqueue": {"slurm": JOBQUEUE["slurm"]}}))
    target.write_text("mine")
    code, out = _invoke("import", str(source), "-o", str(target))
    assert (code, target.read_text()) == (2, "mine")
    assert out == f"hpcdask: error: {target}: already exists; give --force to overwrite it\n"
    assert _invoke("import", str(source), "-o", str(target), "--force")[0] == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "cannot read: No such file or directory"),
        ("jobqueue: [", "invalid YAML"),
        ("slurm: {cores: 1}", "no 'jobqueue:' sections"),
        ("jobqueue: {slurm: {cores: many}}", "resource 'slurm': worker.cores: expected a whole"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, text: str | None, message: str) -> None:
    source = tmp_path / "jobqueue.yaml"
    if text is not None:
        source.write_text(text)
    code, out = _invoke("import", str(source), "-o", str(tmp_path / "out.yaml"))
    assert code == 2 and out.startswith("hpcdask: error: ") and message in out, out
    assert "Traceback" not in out and not (tmp_path / "out.yaml").exists()


def test_default_reads_the_users_dask_config_into_the_users_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dask_dir, home = tmp_path / "dask", tmp_path / "xdg"
    dask_dir.mkdir()
    (dask_dir / "jobqueue.yaml").write_text(yaml.safe_dump({"jobqueue": {"sge": JOBQUEUE["sge"]}}))
    monkeypatch.setattr(dask.config, "paths", [str(dask_dir)])
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    code, out = _invoke("import")
    assert code == 0, out
    written = yaml.safe_load((home / "hpcdask" / "jobqueue.yaml").read_text())["resources"]
    assert written["sge"]["account"] == "p1"
    assert "sge: renamed header-skip: read as job-directives-skip" in out


def test_a_difference_is_shown_as_a_diff(tmp_path: Path) -> None:
    source = tmp_path / "jobqueue.yaml"
    source.write_text(yaml.safe_dump({"jobqueue": {"slurm": {"cores": 1, "memory": "1GB",
                                                             "walltime": None}}}))  # fmt: skip
    code, out = _invoke("import", str(source), "-o", str(tmp_path / "o.yaml"))
    assert code == 1  # dask-jobqueue's null walltime asks for none; hpcdask asks for its default
    assert "slurm: job script differs from dask-jobqueue's" in out and "+#SBATCH -t 00:30:00" in out


def test_readme_lists_every_dask_jobqueue_key_as_the_models_read_it() -> None:
    from hpcdask.backends.jobqueue.importing import reference_table

    readme = (Path(__file__).parents[3] / "README.md").read_text()
    block = readme.split("<!-- jobqueue-keys:start -->\n")[1].split("\n<!-- jobqueue-keys:end")[0]
    table = reference_table()
    assert block == table, "README's table is stale: paste reference_table()'s output in it"
    assert "(refused)" not in table
