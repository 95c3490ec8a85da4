"""``hpcdask check`` for batch resources, with the batch system faked."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from fakeshell import FakeShell

from hpcdask.backends import Status
from hpcdask.backends.jobqueue import JobqueueBackend
from hpcdask.models import JobqueueResource
from hpcdask.resource import TYPES
from hpcdask.shell import CommandTimeout

OK, WARNING, FAILED = Status.OK, Status.WARNING, Status.FAILED
TEST_ONLY = (
    "sbatch: Job 6 to start at 2026-11-21T14:21:37 using 1 processors on nodes n1 "
    "in partition debug"
)


@pytest.fixture
def commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding (empty) batch commands only."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("sbatch", "squeue", "scancel", "qsub", "qstat", "qdel", "oarsub", "oarstat",
                 "oardel", "sh"):  # fmt: skip
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))
    return folder


def checks(kind: str, shell: FakeShell, **keys: Any) -> dict[str, tuple[Status, str]]:
    data = {"name": "x", "worker": {"cores": 1, "memory": "1GB"}, "walltime": "01:00:00", **keys}
    resource = TYPES[kind].model_validate(data)
    assert isinstance(resource, JobqueueResource)
    return {c.name: (c.status, c.detail) for c in JobqueueBackend(shell).checks(resource)}


def test_slurm_all_good(commands: Path) -> None:
    shell = FakeShell()
    shell.reply("sinfo", "debug\nns\n")
    shell.reply("sbatch", "", TEST_ONLY + "\n")
    found = checks("slurm", shell, queue="debug")
    assert list(found) == [
        "commands", "job-script", "queue", "submission", "python", "walltime", "scheduler"
    ]  # fmt: skip
    assert found["commands"] == (OK, "sbatch, squeue, scancel")
    assert found["job-script"][0] is OK
    assert found["queue"] == (OK, "debug")
    assert found["submission"] == (OK, TEST_ONLY)
    assert found["walltime"] == (OK, "workers retire after 3480 s ± 60 s (01:00:00 minus 120 s)")
    assert shell.called("sbatch")[0].command == ("sbatch", "--test-only")
    assert "#SBATCH -p debug" in (shell.called("sbatch")[0].stdin or "")


def test_slurm_bad_partition(commands: Path) -> None:
    shell = FakeShell()
    shell.reply("sinfo", "debug\nns\n")
    shell.reply("sbatch", "", "allocation failure: Invalid partition name specified\n", 1)
    found = checks("slurm", shell, queue="nope")
    assert found["queue"] == (FAILED, "'nope' does not exist; known: debug, ns")
    assert found["submission"] == (
        FAILED,
        "sbatch --test-only: allocation failure: Invalid partition name specified",
    )


def test_missing_commands_fail_without_asking(commands: Path) -> None:
    os.unlink(commands / "scancel")
    shell = FakeShell()
    found = checks("slurm", shell, queue="debug")
    assert found["commands"] == (FAILED, "not found on PATH: scancel (Slurm client commands)")
    assert "queue" not in found and not shell.calls


def test_a_hanging_batch_system_is_a_failed_check(commands: Path) -> None:
    def hang(command: tuple[str, ...], stdin: str | None) -> tuple[int, str, str]:
        raise CommandTimeout(command, None, message=f"`{command[0]}` did not finish within 15 s")

    shell = FakeShell()
    shell.answer("sinfo", hang)
    shell.answer("sbatch", hang)
    found = checks("slurm", shell, queue="debug")
    assert found["queue"] == (FAILED, "`sinfo` did not finish within 15 s")
    assert found["submission"][0] is FAILED


def test_sge_queue_and_verification(commands: Path) -> None:
    shell = FakeShell()
    shell.reply("qconf", "all.q\n")
    shell.reply("qsub", "verification: found suitable queue(s)\n")
    found = checks("sge", shell, queue="all.q")
    assert found["queue"] == (OK, "all.q")
    assert found["submission"] == (OK, "verification: found suitable queue(s)")
    assert shell.called("qsub")[0].command == ("qsub", "-w", "v")


def test_pbs_asks_for_the_queue(commands: Path) -> None:
    shell = FakeShell()
    shell.reply("qstat", "", "qstat: Unknown queue\n", 1)
    found = checks("pbs", shell, queue="nope")
    assert found["queue"][0] is FAILED and "qstat: Unknown queue" in found["queue"][1]
    assert shell.called("qstat")[0].command == ("qstat", "-Q", "nope")
    assert found["submission"] == (OK, "pbs cannot test a job; not checked")


def test_warnings(commands: Path) -> None:
    found = checks("oar", FakeShell(), walltime=None, worker={"cores": 1, "memory": "1GB",
                                                             "python": "/no/python"})  # fmt: skip
    assert found["python"] == (
        WARNING, "/no/python is not an executable here; it must be one on the compute nodes"
    )  # fmt: skip
    assert found["walltime"][0] is WARNING
    assert found["memory"][0] is WARNING
    assert found["queue"] == (OK, "the batch system's default")
    found = checks("oar", FakeShell(), queue="besteffort")
    assert found["queue"] == (OK, "besteffort (not checked: hpcdask cannot ask oar about it)")


def test_missing_keys_and_interfaces(commands: Path) -> None:
    found = checks("slurm", FakeShell(), worker={}, scheduler_interface="nosuch0")
    assert found["job-script"][0] is FAILED
    assert "worker.cores: required" in found["job-script"][1]
    assert found["submission"] == (FAILED, "no job script to test")
    assert found["scheduler"][0] is FAILED
    assert found["scheduler"][1].startswith("no interface 'nosuch0' here (have: ")


def test_pilot_resources_skip_the_per_worker_job_script(commands: Path) -> None:
    shell = FakeShell()
    shell.reply("sinfo", "debug\n")
    found = checks("slurm", shell, queue="debug", allocation={"nodes": 2})
    assert list(found) == ["commands", "queue", "python", "walltime", "scheduler"]
    assert not shell.called("sbatch")
