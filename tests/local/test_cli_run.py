"""`hpcdask run` as users run it: a real subprocess, a real cluster, real signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

HPCDASK = str(Path(sys.executable).parent / "hpcdask")
EXAMPLE = str(Path(__file__).parents[2] / "examples" / "sum_of_squares.py")
QUIET = ["--set", "dashboard-address=:0"]


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HPCDASK, *args], capture_output=True, text=True, timeout=timeout)


def test_run_the_example(isolated_config: Path) -> None:
    result = _run("run", "local", "--workers", "2", *QUIET, "--", sys.executable, EXAMPLE, "100000")
    assert result.returncode == 0, result.stderr
    assert "2 workers" in result.stdout
    assert "sum of squares below 100000: 333328333350000 " in result.stdout
    assert "hpcdask: cluster 'local' at tcp://127.0.0.1:" in result.stderr


def test_scheduler_address_reaches_the_command(isolated_config: Path) -> None:
    code = "import os; print(os.environ['DASK_SCHEDULER_ADDRESS'], os.environ['HPCDASK_RESOURCE'])"
    result = _run("run", "local", *QUIET, "--", sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    address, resource = result.stdout.split()
    assert address.startswith("tcp://127.0.0.1:")
    assert resource == "local"
    assert f"cluster 'local' at {address}," in result.stderr


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (["sh", "-c", "exit 3"], 3),
        (["hpcdask-no-such-command"], 127),
        (["sh", "-c", "kill -TERM $$"], 128 + signal.SIGTERM),
    ],
)
def test_exit_code_is_the_commands(isolated_config: Path, command: list[str], code: int) -> None:
    assert _run("run", "local", *QUIET, "--", *command).returncode == code


def test_bad_config_is_one_line(isolated_config: Path) -> None:
    result = _run("run", "local", "--set", "worker.cores=lots", "--", "true")
    assert result.returncode == 2
    assert result.stderr == (
        "hpcdask: error: call arguments: resource 'local': worker.cores: "
        "expected a whole number, got 'lots'\n"
    )


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_tears_everything_down(isolated_config: Path, signum: int, code: int) -> None:
    sleeper = "import time; print('ready', flush=True); time.sleep(120)"
    command = [
        HPCDASK,
        "run",
        "local",
        "--workers",
        "2",
        *QUIET,
        "--",
        sys.executable,
        "-c",
        sleeper,
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        tree = psutil.Process(process.pid).children(recursive=True)
        assert len(tree) >= 3  # two worker nannies with their workers, and the command
        started = time.monotonic()
        process.send_signal(signum)
        assert process.wait(timeout=60) == code
        assert time.monotonic() - started < 30
    _, alive = psutil.wait_procs(tree, timeout=10)
    assert alive == []
