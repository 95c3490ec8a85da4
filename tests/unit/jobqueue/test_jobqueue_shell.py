"""The shell seam's default implementation: local subprocesses with a timeout."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from hpcdask.errors import HpcdaskError
from hpcdask.shell import CommandError, CommandResult, CommandTimeout, SubprocessShell


def run(command: list[str], **kwargs: object) -> CommandResult:
    return asyncio.run(SubprocessShell().run(command, timeout=10, **kwargs))  # type: ignore[arg-type]


def test_output_and_stdin() -> None:
    assert run(["sh", "-c", "echo out; echo err >&2"]) == CommandResult(
        ("sh", "-c", "echo out; echo err >&2"), 0, "out\n", "err\n"
    )
    assert run(["cat"], stdin="#!/bin/sh\nhostname\n").stdout == "#!/bin/sh\nhostname\n"
    assert run(["sh", "-c", "echo $HPCDASK_X"], env={"HPCDASK_X": "1"}).stdout == "1\n"


def test_failure_carries_command_code_and_output() -> None:
    with pytest.raises(CommandError) as caught:
        run(["sh", "-c", "echo partial; echo 'bad thing' >&2; echo more >&2; exit 3"])
    error = caught.value
    assert isinstance(error, HpcdaskError)
    assert error.command[0] == "sh" and error.returncode == 3
    assert (error.stdout, error.stderr) == ("partial\n", "bad thing\nmore\n")
    assert str(error).endswith("failed (exit code 3): bad thing; more")
    assert run(["sh", "-c", "exit 4"], check=False).returncode == 4


def test_missing_command() -> None:
    with pytest.raises(CommandError) as caught:
        run(["hpcdask-no-such-command"])
    assert caught.value.returncode == 127
    assert "cannot run hpcdask-no-such-command" in str(caught.value)


def test_timeout_kills_the_command(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    start = time.monotonic()
    with pytest.raises(CommandTimeout, match=r"did not finish within 0.5 s \(killed\)"):
        script = f"echo $$ > {pid_file}; exec sleep 30"
        asyncio.run(SubprocessShell().run(["sh", "-c", script], timeout=0.5))
    assert time.monotonic() - start < 5
    assert not Path(f"/proc/{pid_file.read_text().strip()}").exists()
