"""Commands for clusters that outlive one process: up, scale, adapt, status, list, down, …"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import click

from hpcdask import state
from hpcdask.cli.options import scaling_options, set_option
from hpcdask.cli.parse import command_overrides
from hpcdask.errors import HpcdaskError
from hpcdask.security import write_connection_file

__all__ = ["register"]


def _reattach(name: str) -> Any:
    """Reconnect to cluster ``name`` on its login node, if it is a resource behind one.

    Return its record, or None when ``name`` is not such a resource or is not running there.
    """
    # lazy: keeps hpcdask --help light
    from hpcdask.api import load_resource
    from hpcdask.cli.render import console
    from hpcdask.lifecycle import NotRunning, up
    from hpcdask.models import login_of

    configs = click.get_current_context().find_root().obj
    try:
        resource = load_resource(name, config=configs)
    except HpcdaskError:
        return None
    if login_of(resource) is None:
        return None
    with console(stderr=True).status("Reconnecting") as spinner:
        try:
            return up(resource, attach_only=True, progress=spinner.update)
        except NotRunning:
            return None


def _running(name: str) -> Any:
    from hpcdask.remote import find_running  # lazy: keeps hpcdask --help light

    record = find_running(name) or _reattach(name)
    if record is None:
        raise HpcdaskError(
            f"no cluster named '{name}' is running (start it with `hpcdask up {name}`)"
        )
    return record


@click.command("up")
@click.argument("name", required=False)
@set_option
@scaling_options
@click.option("--idle-timeout", metavar="T", help="Shut down after T idle (e.g. 30m, 2h).")
@click.option("--wait/--no-wait", default=False, help="Wait for the requested workers.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    help="Seconds to wait for the cluster (and, with --wait, its workers).",
)
@click.pass_obj
def up_command(
    configs: list[str] | None,
    name: str | None,
    assignments: Sequence[str],
    workers: int | None,
    adapt: str | None,
    idle_timeout: str | None,
    wait: bool,
    timeout: float,
) -> None:
    """Start cluster NAME in a process of its own, so it outlives this shell or notebook."""
    # lazy: keeps hpcdask --help light
    from hpcdask.api import load_resource
    from hpcdask.cli.render import console
    from hpcdask.lifecycle import up, wait_for_workers

    overrides = command_overrides(assignments, workers, adapt)
    if idle_timeout:
        overrides.setdefault("dask", {})["distributed.scheduler.idle-timeout"] = idle_timeout
    resource = load_resource(name, config=configs, **overrides)
    err = console(stderr=True)
    with err.status("Starting") as spinner:
        record = up(resource, timeout=timeout, progress=spinner.update)
        if wait and resource.scaling.workers:
            wait_for_workers(
                record, resource.scaling.workers, timeout=timeout, progress=spinner.update
            )
    click.echo(f"{record.name}: running at {record.scheduler_address}")
    click.echo(f"dashboard: {record.dashboard_link}")


@click.command("scale")
@click.argument("name")
@click.argument("n", type=click.IntRange(min=0))
def scale_command(name: str, n: int) -> None:
    """Ask cluster NAME for N workers (stops adaptive scaling)."""
    from hpcdask.remote import call  # lazy: keeps hpcdask --help light

    report = call(_running(name), "scale", n=n)
    click.echo(f"{name}: {report['requested']} workers requested, {report['workers']} connected")


@click.command("adapt")
@click.argument("name")
@click.option("--minimum", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--maximum", type=click.IntRange(min=1), required=True)
def adapt_command(name: str, minimum: int, maximum: int) -> None:
    """Scale cluster NAME adaptively between --minimum and --maximum workers."""
    from hpcdask.remote import call  # lazy: keeps hpcdask --help light

    if minimum > maximum:
        raise HpcdaskError(f"--minimum ({minimum}) is more than --maximum ({maximum})")
    call(_running(name), "adapt", minimum=minimum, maximum=maximum)
    click.echo(f"{name}: adaptive between {minimum} and {maximum} workers")


def _report(record: Any) -> dict[str, Any]:
    """Ask a cluster's controller for its status; reconnect first if its tunnel died."""
    from hpcdask.remote import alive, call  # lazy: keeps hpcdask --help light

    if record.login and not alive(record):
        record = _reattach(record.name) or record
    report: dict[str, Any] = call(record, "status")
    if record.login:  # the controller's own addresses are the login node's
        report.update(
            login=record.login, dashboard=record.dashboard_link, scheduler=record.scheduler_address
        )
    return report


def _reports(names: Sequence[str]) -> list[dict[str, Any]]:
    from hpcdask.remote import ControllerGone  # lazy: keeps hpcdask --help light

    reports = []
    for item in state.records():
        if isinstance(item, state.StateError):
            reports.append({"name": "?", "state": "damaged", "problem": str(item)})
            continue
        if names and item.name not in names:
            continue
        try:
            reports.append(_report(item))
        except ControllerGone as gone:
            state.remove(item.name)
            reports.append(
                {
                    "name": item.name,
                    "type": item.type,
                    "state": "dead",
                    "problem": f"{gone} (record removed)",
                }
            )
    return reports


@click.command("status")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def status_command(names: tuple[str, ...], as_json: bool) -> None:
    """Show running clusters: type, state, workers, cores, memory, dashboard, uptime."""
    from hpcdask.cli.render import print_status  # lazy: keeps hpcdask --help light

    reports = _reports(names)
    if as_json:
        click.echo(json.dumps(reports, indent=2))
    else:
        print_status(reports, now=time.time())


@click.command("list")
def list_command() -> None:
    """List the names of running clusters."""
    from hpcdask.remote import find_running  # lazy: keeps hpcdask --help light

    for item in state.records():
        if not isinstance(item, state.StateError) and find_running(item.name):
            click.echo(item.name)


def _not_running_here(name: str) -> bool:
    """Whether no live record of ``name`` is here (a damaged record counts as one)."""
    from hpcdask.remote import find_running  # lazy: keeps hpcdask --help light

    try:
        return find_running(name) is None
    except state.StateError:
        return False


@click.command("down")
@click.argument("names", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Stop every running cluster.")
def down_command(names: tuple[str, ...], everything: bool) -> None:
    """Stop clusters: their workers, batch jobs and controllers."""
    from hpcdask.lifecycle import down  # lazy: keeps hpcdask --help light

    if everything:
        names = tuple(r.name for r in state.records())  # damaged ones too: their keepers run
    elif not names:
        raise HpcdaskError("name a cluster to stop, or give --all")
    for name in names:
        if _not_running_here(name):  # behind a login node, it may run on without a tunnel
            _reattach(name)
        if down(name):
            click.echo(f"{name}: stopped")
        elif not everything:
            raise HpcdaskError(f"no cluster named '{name}' is running")


@click.command("logs")
@click.argument("name")
@click.option("--lines", "-n", type=click.IntRange(min=1), default=200, show_default=True)
@click.option(
    "--workers/--no-workers",
    default=True,
    show_default=True,
    help="Also the scheduler's and workers' logs, while the cluster runs.",
)
def logs_command(name: str, lines: int, workers: bool) -> None:
    """Print the end of cluster NAME's controller log, then its scheduler's and workers'."""
    from hpcdask.remote import call, find_running  # lazy: keeps hpcdask --help light

    path = state.log_path(name)
    if not path.exists():
        raise HpcdaskError(f"no log for a cluster named '{name}' ({path})")
    record = find_running(name)
    behind_login = record is not None and record.login
    click.echo(f"== {'tunnel' if behind_login else 'controller'} ({path})")
    click.echo("\n".join(path.read_text().splitlines()[-lines:]))
    if record is None:
        return
    for who, text in call(record, "logs").items():
        mine = who.startswith("controller (")  # this machine's own file, printed above
        if (behind_login or not mine) and (workers or mine):
            click.echo(f"== {who}")
            click.echo("\n".join(text[-lines:]))


@click.command("attach")
@click.argument("name")
@click.pass_obj
def attach_command(configs: list[str] | None, name: str) -> None:
    """Reconnect to cluster NAME running behind its login node (after a lost connection)."""
    record = _running(name)
    where = f" through {record.login}" if record.login else ""
    click.echo(f"{record.name}: running at {record.scheduler_address}{where}")
    click.echo(f"dashboard: {record.dashboard_link}")


@click.command("dashboard")
@click.argument("name")
@click.option("--open", "open_it", is_flag=True, help="Open it in a web browser.")
def dashboard_command(name: str, open_it: bool) -> None:
    """Print (or open) the dashboard link of cluster NAME."""
    record = _running(name)
    click.echo(record.dashboard_link)
    if open_it:
        import webbrowser

        webbrowser.open(record.dashboard_link)


@click.command("export")
@click.argument("name")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    required=True,
    help="Where to write the connection file (mode 0600).",
)
def export_command(name: str, output: str) -> None:
    """Write a connection file for cluster NAME: address and credentials, to attach from
    another machine with `hpcdask.connect("FILE.json")`. Keep it as private as an SSH key."""
    write_connection_file(_running(name), output)
    click.echo(f"{name}: connection file written to {output}")


def register(group: click.Group) -> None:
    """Add the commands of this module to ``group``."""
    for command in (
        up_command,
        scale_command,
        adapt_command,
        status_command,
        list_command,
        down_command,
        logs_command,
        dashboard_command,
        export_command,
        attach_command,
    ):
        group.add_command(command)
