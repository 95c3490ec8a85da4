"""Polling for a condition in tests: the one helper every test module uses to wait."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["wait_until"]


def wait_until(
    condition: Callable[[], object], what: str, timeout: float, interval: float = 0.1
) -> None:
    """Return once ``condition()`` is true; fail the test if ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
