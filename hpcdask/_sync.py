"""Run a coroutine to completion from synchronous code, whether or not a loop is running."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Return ``await make()`` run on a fresh event loop.

    Where no loop runs in this thread that is plain ``asyncio.run``; inside one (a Jupyter
    kernel, a coroutine) the fresh loop runs in a helper thread instead, since ``asyncio.run``
    cannot nest.

    Examples
    --------
    >>> async def answer() -> int:
    ...     return 42
    >>> run_sync(answer)
    42
    """

    async def main() -> T:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()
