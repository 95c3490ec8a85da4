"""Small worker plugins that carry resource settings into worker processes."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["Niceness"]

logger = logging.getLogger(__name__)


class Niceness(WorkerPlugin):
    """Set the niceness of the worker process (every thread of it, as Linux keeps it per thread).

    Threads started later inherit the value from the thread that starts them.
    """

    name = "hpcdask-niceness"

    def __init__(self, nice: int) -> None:
        self.nice = nice

    def setup(self, worker: Any) -> None:
        tasks = Path("/proc/self/task")
        ids = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]
        for task in ids:
            try:
                os.setpriority(os.PRIO_PROCESS, task, self.nice)
            except OSError as error:  # lowering niceness needs privileges
                logger.warning("cannot set worker niceness to %d: %s", self.nice, error)
                return
