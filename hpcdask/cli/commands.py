"""The commands that read resources: resources, show, check, run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from hpcdask.cli.options import scaling_options, set_option
from hpcdask.cli.parse import command_overrides, parse_assignments
from hpcdask.errors import HpcdaskError, UnsupportedTypeError

__all__ = ["register"]


def _overrides(assignments: Sequence[str]) -> dict[str, Any]:
    return parse_assignments(assignments)


@click.command("resources")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def resources_command(configs: list[str] | None, as_json: bool) -> None:
    """List the resources hpcdask can find, with their types and where they are defined."""
    # lazy: keeps hpcdask --help light
    from hpcdask.cli import render
    from hpcdask.config import load_catalog

    catalog = load_catalog(configs)
    rows = render.resource_rows(catalog)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        render.print_resources(rows)


@click.command("show")
@click.argument("name", required=False)
@set_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def show_command(
    configs: list[str] | None, name: str | None, assignments: Sequence[str], as_json: bool
) -> None:
    """Show the fully resolved config of resource NAME and where each value came from."""
    # lazy: keeps hpcdask --help light
    from hpcdask.cli import render
    from hpcdask.config import load_catalog
    from hpcdask.resource import renamed, validate

    resolved = load_catalog(configs).resolve(name, _overrides(assignments))
    resource = validate(resolved)
    resolved, notes = renamed(resolved)  # dask-jobqueue's spellings, with their origins
    rows = render.config_rows(resource, resolved)
    script, problem = _job_script(resource)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "name": resource.name,
                    "type": resource.type,
                    "origin": resource.origin,
                    "keys": rows,
                    "renamed": notes,
                    **(
                        {"job_script": script, "job_script_problem": problem}
                        if script or problem
                        else {}
                    ),
                },
                indent=2,
            )
        )
    else:
        render.print_config(resource, rows)
        for note in notes:
            click.echo(f"note: {note}")
        render.print_job_script(script, problem)


def _job_script(resource: Any) -> tuple[str | None, str | None]:
    """Return the job script of a batch resource, or why it cannot be written."""
    from hpcdask.models import JobqueueResource  # lazy: keeps hpcdask --help light

    if not isinstance(resource, JobqueueResource) or resource.allocation is not None:
        return None, None  # pilot resources submit allocations, not one job per worker group
    from hpcdask.backends.jobqueue import job_script  # lazy: only batch resources load it

    try:
        return job_script(resource), None
    except HpcdaskError as error:
        return None, str(error)


@click.command("check")
@click.argument("name", required=False)
@set_option
@click.pass_obj
def check_command(configs: list[str] | None, name: str | None, assignments: Sequence[str]) -> None:
    """Validate resource NAME and run the preflight checks its type has."""
    # lazy: keeps hpcdask --help light
    from hpcdask.api import load_resource
    from hpcdask.backends import Check, Status, backend_of
    from hpcdask.cli import render
    from hpcdask.login.checks import login_checks
    from hpcdask.models import login_of

    resource = load_resource(name, config=configs, **_overrides(assignments))
    results = [Check("config", Status.OK, f"valid ({resource.origin})")]
    try:
        if login_of(resource) is not None:  # checked there, through SSH
            results += login_checks(resource)
        else:
            results += backend_of(resource).checks(resource)  # pilots: their own
    except UnsupportedTypeError as error:
        results.append(Check("backend", Status.FAILED, str(error)))
    render.print_checks(resource, results)
    if any(result.status is Status.FAILED for result in results):
        raise click.exceptions.Exit(1)


@click.command("run")
@click.argument("name")
@set_option
@scaling_options
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    help="Seconds to wait for the workers before giving up.",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def run_command(
    configs: list[str] | None,
    name: str,
    assignments: Sequence[str],
    workers: int | None,
    adapt: str | None,
    timeout: float,
    command: tuple[str, ...],
) -> None:
    """Start resource NAME's cluster, run COMMAND in it, and tear the cluster down.

    COMMAND runs with DASK_SCHEDULER_ADDRESS set, so a plain `Client()` inside it connects
    to the cluster. hpcdask exits with COMMAND's exit code.

        hpcdask run local -- python analysis.py
    """
    # lazy: keeps hpcdask --help light
    from hpcdask.api import load_resource
    from hpcdask.cli.run import run

    resource = load_resource(name, config=configs, **command_overrides(assignments, workers, adapt))
    raise click.exceptions.Exit(run(resource, list(command), timeout=timeout))


def register(group: click.Group) -> None:
    """Add the commands of this module to ``group``."""
    for command in (resources_command, show_command, check_command, run_command):
        group.add_command(command)
