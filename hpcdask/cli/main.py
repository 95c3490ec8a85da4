"""``hpcdask``: the command-line entry point.

Only click is imported at start-up so that ``hpcdask --help`` stays fast; every command imports
what it needs when it runs.
"""

from __future__ import annotations

from typing import Any

import click

from hpcdask._version import __version__
from hpcdask.cli import commands, importing, lifecycle
from hpcdask.errors import HpcdaskError

__all__ = ["cli", "main"]

#: Exit code of user errors (bad config, unknown resource), as for click's usage errors.
USER_ERROR = 2


class UserError(click.ClickException):
    """An :class:`HpcdaskError` shown as ``hpcdask: error: …`` lines, without a traceback."""

    exit_code = USER_ERROR

    def show(self, file: Any = None) -> None:
        for line in self.message.splitlines():
            click.echo(f"hpcdask: error: {line}", err=True)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HpcdaskError as error:
            raise UserError(str(error)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hpcdask")
@click.option(
    "--config",
    "configs",
    multiple=True,
    type=click.Path(),
    metavar="PATH",
    help="A config file or folder searched before all others (repeatable).",
)
@click.pass_context
def cli(ctx: click.Context, configs: tuple[str, ...]) -> None:
    """Dask on your laptop, your lab's machines and your HPC cluster, by name.

    Resources are described once in YAML (./configs/, ~/.config/hpcdask/ or
    $HPCDASK_CONFIG) and used by name: `hpcdask run NAME -- python script.py`.
    """
    ctx.obj = list(configs) or None


commands.register(cli)
lifecycle.register(cli)
cli.add_command(importing.import_command)


def main() -> None:
    """Run the ``hpcdask`` command."""
    cli(prog_name="hpcdask")


if __name__ == "__main__":  # pragma: no cover
    main()
