from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolate(isolated_config: Path) -> Path:
    return isolated_config
