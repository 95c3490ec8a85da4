"""The notebook widgets: the cluster view, and the launcher driven in a real Jupyter kernel.

In the kernel, the launcher's controls are set and clicked as a person would; between cells,
this test checks with ``hpcdask status`` that the real cluster did what the widgets said.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from distributed import Client
from nbclient import NotebookClient
from test_tutorials import BIN, prepare_kernel_env, stop_all_clusters

import hpcdask
import hpcdask.widgets
from hpcdask.dashboard import page_link

WAIT = """
import time

def wait(check, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {ui.status.value}"
        time.sleep(0.2)
"""
START = """
import hpcdask.widgets

ui = hpcdask.widgets.launcher()
ui.resource.value = "local"
ui.start.click()
assert ui.cluster is not None, ui.message.value
print(ui.start.description)
"""
SCALE = """
ui.workers.value = 2
ui.scale.click()
assert ui.message.value == "", ui.message.value
# no refresh() here: the table follows by itself
wait(lambda: "<b>2</b> connected / <b>2</b> requested" in ui.status.value, "2 workers")
print(ui.status.value)
"""
ADAPT = """
ui.minimum.value, ui.maximum.value = 0, 1
ui.adapt.click()
wait(lambda: ui.refresh().adaptive == (0, 1), "adaptive scaling")
print(ui.status.value)
"""
STOP = """
ui.stop.click()
print(ui.status.value, ui.stop.disabled)
"""


def status() -> list[dict[str, Any]]:
    out = subprocess.run(
        [BIN / "hpcdask", "status", "--json"], capture_output=True, text=True, timeout=60
    )
    reports: list[dict[str, Any]] = json.loads(out.stdout)
    return reports


def printed(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


@pytest.fixture
def kernel(
    isolated_config: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], str]]:
    """``run(code)`` executes code in one live kernel and returns what it printed."""
    prepare_kernel_env(isolated_config, monkeypatch)
    notebook = nbformat.v4.new_notebook()
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3",
        resources={"metadata": {"path": isolated_config}},
    )  # fmt: skip

    def run(code: str) -> str:
        notebook.cells.append(nbformat.v4.new_code_cell(code))
        cell = client.execute_cell(notebook.cells[-1], len(notebook.cells) - 1)
        return printed(cell)

    try:
        with client.setup_kernel():
            yield run
    finally:
        stop_all_clusters()


@pytest.mark.slow
def test_launcher_in_a_kernel_starts_scales_adapts_and_stops(
    kernel: Callable[[str], str],
) -> None:
    kernel(WAIT)
    assert kernel(START).strip() == "Attach"
    [report] = status()
    assert (report["name"], report["state"]) == ("local", "running")

    table = kernel(SCALE)
    assert table.count("<tr>") == 3  # the heading and one row per worker
    assert page_link_of(report) in table
    [report] = status()
    assert (report["workers"], report["requested"]) == (2, 2)

    assert "adaptive 0 to 1 workers" in kernel(ADAPT)
    assert status()[0]["adaptive"] == [0, 1]

    assert kernel(STOP).strip() == "local: stopped True"
    assert status() == []


def page_link_of(report: dict[str, Any]) -> str:
    return str(report["dashboard"]).rsplit("/", 1)[0] + "/hpcdask"


@pytest.mark.slow
def test_view_shows_the_resource_and_reuses_distributeds_widget(isolated_config: Path) -> None:
    cluster = hpcdask.connect("local", worker={"processes": 2}, dashboard_address="127.0.0.1:0")
    try:
        with Client(cluster) as client:
            client.wait_for_workers(2)
            view = hpcdask.widgets.view(cluster)
            html = view._repr_html_()
            assert "local" in html and "(local)" in html and page_link(cluster) in html
            assert html.count("<tr>") == 3
            assert view.widget.children[1] is cluster._widget()  # distributed's own tabs
            bundle = view._repr_mimebundle_()
            assert "application/vnd.jupyter.widget-view+json" in bundle
            assert bundle["text/html"] == html
            cluster.scale(3)
            client.wait_for_workers(3)
            deadline = time.monotonic() + 10
            while view.status.html.value.count("<tr>") != 4:  # refreshed by itself
                assert time.monotonic() < deadline, view.status.html.value
                time.sleep(0.1)
    finally:
        cluster.close()


def test_launcher_shows_config_errors(isolated_config: Path) -> None:
    (isolated_config / "configs").mkdir()
    (isolated_config / "configs" / "bad.yaml").write_text(
        "resources:\n  bad:\n    type: local\n    worker: {memroy: 4GB}\n"
    )
    ui = hpcdask.widgets.launcher()
    ui.resource.value = "bad"
    assert "worker.memroy: unknown key (did you mean &#x27;memory&#x27;?)" in ui.summary.value
    ui.start.click()
    assert "worker.memroy: unknown key" in ui.message.value
    assert ui.cluster is None and ui.scale.disabled


def test_missing_ipywidgets_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with pytest.raises(ImportError, match=r"pip install 'hpcdask\[notebook\]'"):
        hpcdask.widgets.launcher()


def test_view_of_a_plain_dask_cluster(isolated_config: Path) -> None:
    from distributed import LocalCluster

    kwargs: dict[str, Any] = {"n_workers": 1, "processes": False, "dashboard_address": ":0"}
    with LocalCluster(**kwargs) as cluster, Client(cluster) as client:
        client.wait_for_workers(1)
        view = hpcdask.widgets.view(cluster)
        assert not view.status.served  # asked once; from now on, read from the cluster object
        assert "LocalCluster" in view._repr_html_() and view._repr_html_().count("<tr>") == 2
