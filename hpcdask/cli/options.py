"""Options shared by several commands."""

from __future__ import annotations

from typing import Any

import click

__all__ = ["scaling_options", "set_option"]

_SET_HELP = "Override a key for this call, e.g. --set worker.cores=4 (repeatable)."


def set_option(function: Any) -> Any:
    """Add ``--set KEY=VALUE`` to a command."""
    return click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)(
        function
    )


def scaling_options(function: Any) -> Any:
    """Add ``--workers N`` and ``--adapt MIN:MAX`` to a command."""
    adapt = click.option(
        "--adapt", metavar="MIN:MAX", help="Scale adaptively between MIN and MAX workers."
    )
    workers = click.option("--workers", type=click.IntRange(min=0), help="Start this many workers.")
    return workers(adapt(function))
