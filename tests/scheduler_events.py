"""Reading a Dask scheduler's event log in tests."""

from __future__ import annotations

from typing import Any

__all__ = ["removals"]


def removals(dask_scheduler: Any) -> list[dict[str, Any]]:
    """Every worker removal the scheduler logged: call it with the scheduler, or pass it to
    ``client.run_on_scheduler`` (hence the parameter's name)."""
    return [
        msg
        for topic, events in dask_scheduler.get_events().items()
        if topic != "all"
        for _, msg in events
        if isinstance(msg, dict) and msg.get("action") == "remove-worker"
    ]
