"""The ``dask:`` block: ``null`` is a Dask setting and is kept; an empty mapping sets nothing.

Regression tests for a block with a null (as dask-hpcconfig's site definitions carry) that
was dropped during validation and then replaced a whole Dask config section.
"""

from __future__ import annotations

from pathlib import Path

import dask.config
import pytest
from click.testing import CliRunner

import hpcdask
from hpcdask.backends.jobqueue import job_script
from hpcdask.backends.workers import INHERIT_CONFIG, inherited_config
from hpcdask.cli.main import cli
from hpcdask.daskconfig import dotted, nested
from hpcdask.models import SlurmResource, SSHResource

TUNED = """
resources:
  tuned:
    type: local
    worker: {processes: 1, cores: 1, memory: 1GB}
    dask:
      distributed:
        worker:
          memory: {target: 0.9, pause: 0.95}
        comm: {compression: null}
  child:
    extends: tuned
    dask: {distributed: {worker: {memory: {target: null}}}}
  wiping:
    type: local
    dask: {distributed: {comm: null}}
"""
BLOCK = {
    "distributed": {
        "worker": {"memory": {"target": 0.9, "pause": 0.95}},
        "comm": {"compression": None},
    }
}


@pytest.fixture
def config(isolated_config: Path) -> Path:
    path = isolated_config / "tuned.yaml"
    path.write_text(TUNED)
    return path


def test_null_is_kept_in_the_model(config: Path) -> None:
    assert hpcdask.load_resource("tuned", config=config).dask == BLOCK


def test_null_overrides_what_a_parent_set(config: Path) -> None:
    memory = hpcdask.load_resource("child", config=config).dask["distributed"]["worker"]
    assert memory == {"memory": {"target": None, "pause": 0.95}}


def test_null_for_a_whole_section_is_refused(config: Path) -> None:
    with pytest.raises(hpcdask.ConfigError) as error:
        hpcdask.load_resource("wiping", config=config)
    assert str(error.value) == (
        f"{config.name}: resource 'wiping': dask.distributed.comm: null would remove this "
        "whole section of Dask's config; set the keys in it"
    )


def test_show_lists_every_key_and_the_null(config: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(config), "show", "tuned"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("dask.")]
    assert rows == [
        ["dask.distributed.worker.memory.target", "0.9", config.name],
        ["dask.distributed.worker.memory.pause", "0.95", config.name],
        ["dask.distributed.comm.compression", "null", config.name],
    ]


def test_empty_mapping_replaces_no_section() -> None:
    assert dotted({"distributed": {"comm": {}}}) == {}
    assert nested({"distributed": {"comm": {}, "x": None}}) == {"distributed": {"x": None}}
    with dask.config.set(dotted({"distributed": {"comm": {}}})):
        assert dask.config.get("distributed.comm.require-encryption", default="gone") != "gone"


def test_in_process_setting_keeps_the_section(config: Path) -> None:
    resource = hpcdask.load_resource("tuned", config=config)
    with dask.config.set(dotted(resource.dask)):
        assert dask.config.get("distributed.comm.compression") is None
        assert "require-encryption" in dask.config.get("distributed.comm")
        assert dask.config.get("distributed.worker.memory.target") == 0.9


def test_remote_and_batch_workers_inherit_the_null() -> None:
    ssh = SSHResource(name="lab", hosts=["ws1"], dask=BLOCK)
    batch = SlurmResource(name="c", worker={"cores": 1, "memory": "1GB"}, dask=BLOCK)
    inherited = inherited_config(ssh, None)[INHERIT_CONFIG]
    assert dask.config.deserialize(inherited) == BLOCK
    assert f"export {INHERIT_CONFIG}={inherited}" in job_script(batch).splitlines()
    assert INHERIT_CONFIG not in job_script(SlurmResource(name="c", worker=batch.worker))
