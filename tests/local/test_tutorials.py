"""The tutorials run top to bottom in a real Jupyter kernel (the SSH one: tests/integration).

Each runs in an empty folder with an empty home and a private state folder; the built-in
``local`` resource is overridden only to put its dashboard on a free port.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

TUTORIALS = Path(__file__).parents[2] / "tutorials"
BIN = Path(sys.executable).parent
LOCAL_ON_A_FREE_PORT = """\
resources:
  local:
    type: local
    description: workers on this machine (dashboard on a free port, for the tests)
    dashboard-address: "127.0.0.1:0"
"""


def run_notebook(path: Path, folder: Path, timeout: float = 120) -> nbformat.NotebookNode:
    """Execute the notebook at ``path`` in a fresh kernel whose working folder is ``folder``."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": folder}}
    )
    client.execute()
    return notebook


def prepare_kernel_env(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Give kernels started from now on the venv's commands on PATH, a private state folder
    beside ``folder``, and a ``local`` resource whose dashboard takes a free port."""
    ports = folder.parent / "ports.yaml"
    ports.write_text(LOCAL_ON_A_FREE_PORT)
    monkeypatch.setenv("HPCDASK_STATE_DIR", str(folder.parent / "state"))
    monkeypatch.setenv("HPCDASK_CONFIG", str(ports))
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")


def stop_all_clusters() -> None:
    """Stop every cluster of the state folder in force (``hpcdask down --all``)."""
    subprocess.run([BIN / "hpcdask", "down", "--all"], capture_output=True, timeout=120)


@pytest.fixture
def kernel_env(isolated_config: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The kernel's working folder (empty); clusters left running are stopped afterwards."""
    prepare_kernel_env(isolated_config, monkeypatch)
    yield isolated_config
    stop_all_clusters()


def test_tutorials_are_saved_without_outputs() -> None:
    notebooks = sorted(TUTORIALS.glob("*.ipynb"))
    assert len(notebooks) >= 4
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.slow
@pytest.mark.parametrize("name", ["01-quick-start", "02-resource-configs", "04-cli-and-dashboard"])
def test_tutorial_runs(name: str, kernel_env: Path) -> None:
    notebook = run_notebook(TUTORIALS / f"{name}.ipynb", kernel_env)
    text = "\n".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )
    assert "hpcdask" in text
    if name == "04-cli-and-dashboard":
        assert "local: stopped" in text
        assert "(3, 3, ['0', '1', '2'])" in text
