"""What the login node's agent and this machine's side agree on, beyond the JSON lines.

The agent (:mod:`hpcdask.login.agent`) says these; the tunnel and :mod:`hpcdask.lifecycle`
recognise them. Kept apart so that neither side imports the other's command line.
"""

from __future__ import annotations

__all__ = ["NOT_RUNNING", "NOT_RUNNING_THERE"]

#: Exit code of ``serve --attach-only`` when the cluster is not running, and what it says.
NOT_RUNNING = 4
NOT_RUNNING_THERE = "is not running on the login node"
