"""The public surface: what `hpcdask` exports, and that importing it does nothing heavy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import hpcdask

PUBLIC = {
    "ConfigError",
    "HpcdaskError",
    "Resource",
    "UnknownResourceError",
    "UnsupportedTypeError",
    "__version__",
    "connect",
    "list_resources",
    "load_resource",
    "widgets",
}


def test_all_is_the_public_api() -> None:
    assert set(hpcdask.__all__) == PUBLIC
    for name in hpcdask.__all__:
        assert getattr(hpcdask, name) is not None
    assert sorted(dir(hpcdask)) == sorted(PUBLIC)


def test_import_is_light_and_has_no_side_effects() -> None:
    code = (
        "import sys, hpcdask; "
        "heavy = [m for m in ('dask', 'distributed', 'pydantic', 'yaml', 'rich', 'bokeh', "
        "'ipywidgets', 'hpcdask.widgets', 'hpcdask.dashboard') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    assert out.stderr == ""


def test_unknown_attribute() -> None:
    try:
        hpcdask.nothing  # noqa: B018
    except AttributeError as error:
        assert "nothing" in str(error)
    else:
        raise AssertionError("expected AttributeError")


def test_loading_the_batch_backend_leaves_ctrl_c_and_home_alone(tmp_path: Path) -> None:
    """dask_jobqueue's first import sets SIGINT to sys.exit and writes ~/.config/dask: not ours.

    The backend loads in a thread here, where dask_jobqueue's own signal call would raise.
    """
    code = (
        "import importlib, signal, threading\n"
        "before = signal.getsignal(signal.SIGINT)\n"
        "load = lambda: importlib.import_module('hpcdask.backends.jobqueue.build')\n"
        "thread = threading.Thread(target=load); thread.start(); thread.join()\n"
        "import dask_jobqueue\n"
        "print(signal.getsignal(signal.SIGINT) is before)\n"
    )
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.stdout.strip() == "True", out.stderr
    assert not (tmp_path / ".config").exists()
