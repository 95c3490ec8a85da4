"""Run the package's docstring examples (``--doctest-modules`` on ``hpcdask/``) isolated.

tests/conftest.py does not apply to files under hpcdask/, and the package must not carry a
conftest.py of its own, so this root one gives each doctest what ``isolated_config`` in
tests/conftest.py gives a test: an empty home and an empty current folder, so no user or
project config (``./configs/``) leaks into an example and nothing is written into the real
home. Other tests are left to their own conftest files.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolate_doctests(request: pytest.FixtureRequest) -> None:
    if not isinstance(request.node, pytest.DoctestItem):
        return
    tmp_path: Path = request.getfixturevalue("tmp_path")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name in ("HPCDASK_CONFIG", "HPCDASK_STATE_DIR", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(work)
