"""Tutorial 3 (a lab of machines over SSH) runs top to bottom against the testbed's hosts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import SSHHost

TUTORIAL = Path(__file__).parents[2] / "tutorials" / "03-ssh-lab.ipynb"


@pytest.mark.ssh
@pytest.mark.slow
def test_ssh_tutorial_runs(
    isolated_config: Path, monkeypatch: pytest.MonkeyPatch, ssh_namespace_hosts: list[SSHHost]
) -> None:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    notebook = nbformat.read(TUTORIAL, as_version=4)
    client = NotebookClient(
        notebook, timeout=180, kernel_name="python3",
        resources={"metadata": {"path": isolated_config}},
    )  # fmt: skip
    client.execute()
    printed = "".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )
    hostnames = sorted(host.hostname for host in ssh_namespace_hosts)
    assert str(hostnames) in printed  # one worker on each host after scale(3)
    for host in ssh_namespace_hosts:
        assert f"{host.address} ok" in printed
