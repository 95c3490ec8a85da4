"""The CLI's rendering and error handling, through click's runner (no cluster started)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hpcdask import registry
from hpcdask.cli.main import cli
from hpcdask.cli.parse import parse_assignments, scaling_override
from hpcdask.errors import HpcdaskError

SLURM = """
resources:
  base: {type: slurm, queue: normal, worker: {cores: 8, memory: 16GB}}
  child: {extends: base, queue: short, description: short queue}
  broken: {type: local, worker: {memroy: 1GB}}
"""


@pytest.fixture
def configs(isolated_config: Path) -> Path:
    folder = isolated_config / "configs"
    folder.mkdir()
    (folder / "site.yaml").write_text(SLURM)
    return folder


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_version() -> None:
    code, out, _ = _invoke("--version")
    assert code == 0
    assert out.startswith("hpcdask, version ")


def test_resources_table(configs: Path) -> None:
    code, out, _ = _invoke("resources")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "type", "defined", "in", "description"]
    assert any(line.split()[:3] == ["child", "slurm", "configs/site.yaml"] for line in lines)
    assert any(line.split()[:4] == ["local", "(default)", "local", "built-in"] for line in lines)
    assert "configs/site.yaml: resource 'broken': worker.memroy: unknown key" in out


def test_resources_json(configs: Path) -> None:
    code, out, _ = _invoke("resources", "--json")
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)}
    assert set(rows) == {"base", "child", "broken", "local"}
    assert rows["child"]["description"] == "short queue"
    assert rows["broken"]["problem"].startswith("configs/site.yaml: resource 'broken'")
    assert rows["local"]["default"] is True


def test_show_gives_each_value_its_source(configs: Path) -> None:
    code, out, _ = _invoke("show", "child", "--set", "worker.cores=4", "--json")
    assert code == 0
    keys = {row["key"]: row for row in json.loads(out)["keys"]}
    assert keys["queue"] == {"key": "queue", "value": "short", "source": "configs/site.yaml"}
    assert keys["worker.cores"]["source"] == "call arguments"
    assert keys["worker.cores"]["value"] == "4"
    assert keys["worker.memory"] == {
        "key": "worker.memory",
        "value": "14.90 GiB",
        "source": "configs/site.yaml",
    }
    assert keys["walltime"]["source"] == "default"
    assert keys["job-name"]["value"] == "hpcdask-worker"


def test_show_table(configs: Path) -> None:
    code, out, _ = _invoke("show", "child")
    assert code == 0
    assert out.splitlines()[0] == "child (slurm, defined in configs/site.yaml)"
    assert ["queue", "short", "configs/site.yaml"] in [line.split() for line in out.splitlines()]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["show", "chlid"],
            "hpcdask: error: unknown resource 'chlid' (did you mean 'child'?); "
            "known resources: base, broken, child, local\n",
        ),
        (
            ["show", "broken"],
            "hpcdask: error: configs/site.yaml: resource 'broken': worker.memroy: "
            "unknown key (did you mean 'memory'?)\n",
        ),
        (
            ["check", "child", "--set", "worker.cores=0"],
            "hpcdask: error: call arguments: resource 'child': worker.cores: "
            "must be at least 1, got 0\n",
        ),
        (
            ["show", "child", "--set", "cores"],
            "hpcdask: error: --set cores: expected KEY=VALUE, e.g. worker.cores=4\n",
        ),
        (
            ["run", "child", "--workers", "2", "--adapt", "0:2", "--", "true"],
            "hpcdask: error: give either --workers or --adapt, not both\n",
        ),
    ],
)
def test_user_errors_are_one_line_exit_2(configs: Path, args: list[str], message: str) -> None:
    code, out, err = _invoke(*args)
    assert (code, out, err) == (2, "", message)


def test_check_local_passes(configs: Path) -> None:
    code, out, _ = _invoke("check", "local")
    assert code == 0
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[2:]}
    assert rows == {
        "config": "ok",
        "cores": "ok",
        "memory": "ok",
        "local-directory": "ok",
        "dashboard": "ok",
    }


def test_check_fails_for_unwritable_directory(configs: Path) -> None:
    code, out, _ = _invoke("check", "local", "--set", "worker.local-directory=/proc/hpcdask")
    assert code == 1
    assert "local-directory  FAILED  /proc is not writable (" in out


def test_check_warns_for_more_cores_than_machine(configs: Path) -> None:
    code, out, _ = _invoke("check", "local", "--set", "worker.cores=4096")
    assert code == 0
    assert "cores            warning  4096 cores asked for, this machine has" in out


def test_check_type_without_backend_fails(configs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(registry.KINDS, "slurm")
    code, out, _ = _invoke("check", "child")
    assert code == 1
    assert "backend  FAILED  resources of type 'slurm' are validated but cannot be started" in out


def test_parse_assignments() -> None:
    assert parse_assignments(["a.b=1", "a.c=[x, y]", "d=", "e=x: y: z"]) == {
        "a": {"b": 1, "c": ["x", "y"]},
        "d": None,
        "e": "x: y: z",
    }
    with pytest.raises(HpcdaskError, match="'a' is already set"):
        parse_assignments(["a=1", "a.b=2"])


def test_scaling_override() -> None:
    assert scaling_override(3, None) == {"workers": 3, "minimum": None, "maximum": None}
    assert scaling_override(None, None) is None
    with pytest.raises(HpcdaskError, match="expected MIN:MAX"):
        scaling_override(None, "8")
