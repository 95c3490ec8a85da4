"""Fixtures for every test and for the package's docstring examples.

This root conftest (rather than ``tests/conftest.py``) applies to the doctests of ``hpcdask/``
(``--doctest-modules``) as well, and the package must not carry a conftest of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in an empty folder with an empty home, so no user or project config leaks in."""
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("HPCDASK_CONFIG", raising=False)
    monkeypatch.chdir(work)
    yield work


@pytest.fixture(autouse=True)
def _isolate_doctests(request: pytest.FixtureRequest) -> None:
    """Give each docstring example what ``isolated_config`` gives a test, and no state folder
    of the user's: nothing is read from or written into the real home."""
    if not isinstance(request.node, pytest.DoctestItem):
        return
    request.getfixturevalue("isolated_config")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    for name in ("HPCDASK_STATE_DIR", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
