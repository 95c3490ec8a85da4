"""The code-quality gates run with the tests: ruff and mypy --strict on the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.slow
def test_ruff() -> None:
    result = _run("ruff", "check", "hpcdask", "tests", "examples", "benchmarks", "conftest.py")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_strict() -> None:
    result = _run("mypy", "--strict", "hpcdask")
    assert result.returncode == 0, result.stdout + result.stderr
