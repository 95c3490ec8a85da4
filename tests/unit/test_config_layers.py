"""Where resources are found, how layers win, and where each value came from."""

from __future__ import annotations

from pathlib import Path

import dask.config
import pytest

import hpcdask
from hpcdask.config import load_catalog


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _resource(name: str, description: str, kind: str = "local") -> str:
    return f"resources:\n  {name}: {{type: {kind}, description: {description}}}\n"


def test_builtin_local_needs_no_files(isolated_config: Path) -> None:
    catalog = load_catalog()
    assert catalog.names() == ["local"]
    assert catalog.default == "local"
    assert catalog.definition("local").origin == "built-in"
    assert hpcdask.load_resource().type == "local"


def test_search_order(isolated_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = Path.home()
    explicit = _write(isolated_config / "explicit.yaml", _resource("r", "explicit"))
    env = _write(isolated_config / "env" / "a.yaml", _resource("r", "env"))
    _write(isolated_config / "configs" / "a.yaml", _resource("r", "project"))
    _write(home / ".config" / "hpcdask" / "a.yml", _resource("r", "user"))
    monkeypatch.setenv("HPCDASK_CONFIG", str(env.parent))
    with dask.config.set({"hpcdask.resources": {"r": {"type": "local", "description": "dask"}}}):
        assert hpcdask.load_resource("r", config=explicit).description == "explicit"
        assert hpcdask.load_resource("r").description == "env"
        monkeypatch.delenv("HPCDASK_CONFIG")
        assert hpcdask.load_resource("r").description == "project"
        (isolated_config / "configs" / "a.yaml").unlink()
        assert hpcdask.load_resource("r").origin == "~/.config/hpcdask/a.yml"
        (home / ".config" / "hpcdask" / "a.yml").unlink()
        resource = hpcdask.load_resource("r")
        assert (resource.description, resource.origin) == (
            "dask",
            "dask config 'hpcdask.resources'",
        )


def test_env_var_takes_several_paths(
    isolated_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = _write(isolated_config / "a.yaml", _resource("a", "one"))
    b = _write(isolated_config / "b.yaml", _resource("b", "two"))
    monkeypatch.setenv("HPCDASK_CONFIG", f"{a}:{b}")
    assert hpcdask.list_resources() == ["a", "b", "local"]


def test_same_name_twice_in_one_folder(isolated_config: Path) -> None:
    _write(isolated_config / "configs" / "a.yaml", _resource("r", "one"))
    _write(isolated_config / "configs" / "b.yaml", _resource("r", "two"))
    with pytest.raises(
        hpcdask.ConfigError,
        match=r"^resource 'r' is defined twice: in "
        r"configs/a.yaml and in configs/b.yaml$",
    ):
        load_catalog()


def test_default_resource(isolated_config: Path) -> None:
    _write(isolated_config / "configs" / "a.yaml", "default: big\n" + _resource("big", "x"))
    assert hpcdask.load_resource().name == "big"
    with dask.config.set({"hpcdask.default": "local"}):
        assert load_catalog().default == "big"  # files win over dask config


def test_extends_and_overrides_with_sources(isolated_config: Path) -> None:
    _write(
        isolated_config / "configs" / "base.yaml",
        """
resources:
  base:
    type: slurm
    queue: normal
    walltime: "01:00:00"
    worker: {cores: 8, memory: 16GB, env: {A: "1"}}
""",
    )
    _write(
        isolated_config / "configs" / "child.yaml",
        """
resources:
  child:
    extends: base
    queue: short
    worker: {memory: 8GB, env: {B: 2}}
""",
    )
    catalog = load_catalog()
    resolved = catalog.resolve("child", {"worker": {"cores": 4}, "walltime": None})
    assert resolved.data == {
        "type": "slurm",
        "queue": "short",
        "worker": {"cores": 4, "memory": "8GB", "env": {"A": "1", "B": 2}},
    }
    assert resolved.sources == {
        "type": "configs/base.yaml",
        "queue": "configs/child.yaml",
        "worker.cores": "call arguments",
        "worker.memory": "configs/child.yaml",
        "worker.env.A": "configs/base.yaml",
        "worker.env.B": "configs/child.yaml",
    }
    resource = hpcdask.load_resource("child", worker={"cores": 4}, walltime=None)
    assert resource.walltime is None
    assert resource.worker.env == {"A": "1", "B": "2"}
    assert resource.worker.memory == 8 * 10**9


def test_hyphens_and_underscores_merge(isolated_config: Path) -> None:
    _write(
        isolated_config / "configs" / "a.yaml",
        """
resources:
  a: {type: slurm, job-script-prologue: [one]}
  b: {extends: a, job_script_prologue: [two]}
""",
    )
    assert hpcdask.load_resource("b").job_script_prologue == ("two",)
    assert hpcdask.load_resource("b", job_script_prologue="three").job_script_prologue == ("three",)


def test_shipped_configs_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = Path(__file__).parents[2] / "configs"
    names = load_catalog(shipped).names()
    assert {
        "local",
        "lab",
        "cluster",
        "pbs-cluster",
        "sge-cluster",
        "lsf-cluster",
        "condor-pool",
    } <= set(names)
    kinds = {hpcdask.load_resource(n, config=shipped).type for n in names}
    assert kinds == {"local", "ssh", "slurm", "pbs", "sge", "lsf", "htcondor"}
