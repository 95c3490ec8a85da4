"""The layering contract of pyproject.toml ([tool.importlinter]): imports only go downwards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
#: ``lint-imports``, run by this interpreter (its script may not sit next to it); it exits.
LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def test_imports_follow_the_layers() -> None:
    """``lint-imports`` keeps the contract: no module imports one of a layer above its own.

    It reads the package from the source tree (the current directory comes first on its path),
    counts imports inside functions, and ignores those made only for type checkers.
    """
    result = subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
