"""Tutorial 5 (Slurm: adaptive batch jobs and pilots) runs top to bottom on the test Slurm."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

TUTORIAL = Path(__file__).parents[2] / "tutorials" / "05-slurm-and-pilots.ipynb"


@pytest.mark.slurm
@pytest.mark.slow
def test_slurm_tutorial_runs(
    isolated_config: Path, monkeypatch: pytest.MonkeyPatch, slurm_conf: Path
) -> None:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    notebook = nbformat.read(TUTORIAL, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells)  # saved without outputs
    client = NotebookClient(
        notebook,
        timeout=240,
        kernel_name="python3",
        resources={"metadata": {"path": isolated_config}},
    )
    client.execute()
    printed = "".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )
    assert "#SBATCH" in printed
    assert f"sum of squares: {sum(i * i for i in range(40))}" in printed
    assert "allocations requested: 1" in printed
    assert "allocations held: 0" in printed
