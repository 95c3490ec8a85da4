"""``hpcdask check`` for pilot resources (``allocation:``), with Slurm faked."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fakeshell import FakeShell

from hpcdask.backends import Status, backend_of
from hpcdask.cli.main import cli
from hpcdask.models import SlurmResource
from hpcdask.pilot.backend import PilotBackend
from hpcdask.resource import TYPES

OK, WARNING, FAILED = Status.OK, Status.WARNING, Status.FAILED
SINFO_NODES = "hpcd-h1|4|4000|ns\nn1|2|4000|debug*\nn2|8|8000|debug*\nbig|64|512000|fat\n"
TEST_ONLY = "sbatch: Job 6 to start at 2026-11-21T14:21:37 using 8 processors on nodes n[1-2] in partition debug"  # noqa: E501
COMMANDS = ("sbatch", "squeue", "scancel", "srun", "scontrol", "sinfo")


@pytest.fixture
def commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding (empty) Slurm commands only."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in COMMANDS:
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))
    return folder


def _resource(**keys: Any) -> SlurmResource:
    data = {
        "name": "hpc",
        "queue": "debug",
        "worker": {"cores": 4, "processes": 2, "memory": "2GB"},
        "allocation": {"nodes": 2, "walltime": "00:30:00", "walltime-margin": "5m"},
        **keys,
    }
    resource = TYPES["slurm"].model_validate(data)
    assert isinstance(resource, SlurmResource)
    return resource


def _checks(shell: FakeShell, **keys: Any) -> dict[str, tuple[Status, str]]:
    return {c.name: (c.status, c.detail) for c in PilotBackend(shell).checks(_resource(**keys))}


def _slurm() -> FakeShell:
    shell = FakeShell()
    shell.answer("sinfo", lambda argv, _: (0, "debug\nns\nfat\n" if "%R" in argv[-1] else
                                          SINFO_NODES, ""))  # fmt: skip
    shell.reply("sbatch", "", TEST_ONLY + "\n")
    return shell


def test_pilot_resources_are_checked_by_the_pilot_backend() -> None:
    assert isinstance(backend_of(_resource()), PilotBackend)


def test_all_good(commands: Path) -> None:
    shell = _slurm()
    found = _checks(shell)
    assert list(found) == [
        "commands", "queue", "allocation", "nodes", "python", "walltime", "scheduler"
    ]  # fmt: skip
    assert found["commands"] == (OK, "sbatch, squeue, scancel, scontrol, srun")
    assert found["queue"] == (OK, "debug")
    assert found["allocation"] == (OK, TEST_ONLY)
    assert found["nodes"] == (OK, "1-2 workers (2 cores, 953 MiB) per node of partition debug")
    assert found["walltime"] == (
        OK,
        "allocations of 00:30:00; workers retire 5m before the end, into a replacement "
        "requested earlier",
    )
    [sbatch] = shell.called("sbatch")
    assert sbatch.command[:2] == ("sbatch", "--test-only")
    assert {"--nodes=2", "--time=00:30:00", "--partition=debug", "--exclusive"} <= set(
        sbatch.command
    )
    assert sbatch.command[-1].startswith("--wrap=")


def test_missing_srun_fails_without_asking(commands: Path) -> None:
    (commands / "srun").unlink()
    shell = _slurm()
    found = _checks(shell)
    assert found["commands"] == (FAILED, "not found on PATH: srun (Slurm client commands)")
    assert "allocation" not in found and not shell.calls


def test_unknown_partition_and_refused_allocation(commands: Path) -> None:
    shell = _slurm()
    shell.replies["sbatch"] = [(1, "", "sbatch: error: Batch job submission failed: "
                                "Invalid partition name specified\n")]  # fmt: skip
    found = _checks(shell, queue="nope")
    assert found["queue"] == (FAILED, "'nope' does not exist; known: debug, fat, ns")
    assert found["allocation"] == (
        FAILED,
        "sbatch --test-only: sbatch: error: Batch job submission failed: Invalid partition "
        "name specified",
    )
    assert found["nodes"] == (WARNING, "sinfo lists no node of partition nope")


def test_workers_too_big_for_the_nodes(commands: Path) -> None:
    found = _checks(_slurm(), worker={"cores": 16, "processes": 1, "memory": "2GB"})
    assert found["nodes"] == (
        FAILED,
        "no node of partition debug has room for one worker (16 cores, 1907 MiB)",
    )
    found = _checks(_slurm(), queue=None, worker={"cores": 64, "processes": 1, "memory": "2GB"})
    assert found["nodes"][0] is FAILED and "the default partition" in found["nodes"][1]


def test_margin_longer_than_the_allocation_fails(commands: Path) -> None:
    allocation = {"nodes": 1, "walltime": "00:01:00", "walltime-margin": "2m"}
    found = _checks(_slurm(), allocation=allocation)
    assert found["walltime"] == (
        FAILED,
        "allocation.walltime-margin (2m) leaves no time to work in allocations of 00:01:00",
    )


def test_current_allocation(commands: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    found = _checks(_slurm(), allocation="current")
    assert found["allocation"][0] is WARNING
    assert "not inside a Slurm job here (no SLURM_JOB_ID)" in found["allocation"][1]
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    shell = _slurm()
    found = _checks(shell, allocation="current")
    assert found["allocation"] == (OK, "current: Slurm job 77")
    assert found["walltime"] == (OK, "workers retire 2m before the job ends")
    assert not shell.called("sbatch")


def test_cli_check_of_a_pilot_resource(
    commands: Path, isolated_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (commands / "sinfo").write_text(f"#!/bin/sh\ncase \"$*\" in *%R*) printf 'debug\\n';; "
                                    f"*) printf '{SINFO_NODES}';; esac\n")  # fmt: skip
    (commands / "sbatch").write_text(f"#!/bin/sh\necho '{TEST_ONLY}' >&2\n")
    (isolated_config / "hpc.yaml").write_text(
        "resources:\n  hpc:\n    type: slurm\n    queue: debug\n"
        "    worker: {cores: 4, processes: 2, memory: 2GB}\n    allocation: {nodes: 2}\n"
    )
    result = CliRunner().invoke(cli, ["--config", "hpc.yaml", "check", "hpc"])
    lines = result.stdout.splitlines()[2:]
    rows = {line.split()[0]: line.split()[1] for line in lines if not line.startswith(" ")}
    assert rows == {
        "config": "ok",
        "commands": "ok",
        "queue": "ok",
        "allocation": "ok",
        "nodes": "ok",
        "python": "ok",
        "walltime": "ok",
        "scheduler": "ok",
    }, result.stdout
    assert result.exit_code == 0
    assert "job-script" not in result.stdout  # the per-worker job script is not a pilot's


def test_a_python_that_cannot_run_the_node_agent_fails(tmp_path: Path, commands: Path) -> None:
    python = tmp_path / "python"  # a python on which neither hpcdask nor distributed is found
    python.write_text("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'hpcdask'\" >&2\n"
                      "exit 1\n")  # fmt: skip
    python.chmod(0o755)
    worker = {"cores": 4, "processes": 2, "memory": "2GB", "python": str(python)}
    assert _checks(_slurm(), worker=worker)["python"] == (
        FAILED,
        f"{python} cannot run the node agent: ModuleNotFoundError: No module named 'hpcdask'",
    )
    worker["python"] = sys.executable
    status, detail = _checks(_slurm(), worker=worker)["python"]
    assert status is Status.OK and detail.endswith("runs the node agent"), detail


def test_the_ssh_launcher_needs_ssh_not_srun(commands: Path) -> None:
    (commands / "srun").unlink()
    allocation = {"nodes": 2, "launcher": "ssh"}
    assert _checks(_slurm(), allocation=allocation)["commands"] == (
        FAILED,
        "not found on PATH: ssh (Slurm client commands)",
    )
    (commands / "ssh").write_text("#!/bin/sh\n")
    (commands / "ssh").chmod(0o755)
    found = _checks(_slurm(), allocation=allocation)["commands"]
    assert found == (OK, "sbatch, squeue, scancel, scontrol, ssh")
