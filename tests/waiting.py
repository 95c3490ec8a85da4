"""Polling for a condition in tests: the helpers every test module uses to wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["until", "wait_until"]


def wait_until(
    condition: Callable[[], object], what: str, timeout: float, interval: float = 0.1
) -> None:
    """Return once ``condition()`` is true; fail the test if ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


async def until(
    condition: Callable[[], object], what: str, timeout: float, interval: float = 0.05
) -> None:
    """:func:`wait_until` for coroutines: poll without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)
