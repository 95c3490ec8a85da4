"""``hpcdask import``: a dask-jobqueue config as hpcdask resources, proven job script by job
script against dask-jobqueue's own."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from hpcdask.errors import ConfigError

__all__ = ["import_command", "read_sections"]

_DEFAULT_FILE = "jobqueue.yaml"


def _read(path: Path) -> Any:
    import yaml  # lazy: keeps hpcdask --help light

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(error, 'problem', error)}") from None


def read_sections(path: str | None) -> tuple[Mapping[str, Any], str]:
    """Return the ``jobqueue:`` sections of ``path`` (default: the user's dask config files),
    and how messages name where they came from."""
    if path is None:
        import dask.config  # lazy: keeps hpcdask --help light

        found = dask.config.merge(*dask.config.collect_yaml(paths=dask.config.paths))
        body, origin = found, "dask config"
    else:
        body, origin = _read(Path(path)), path
    if not isinstance(body, Mapping) or not isinstance(body.get("jobqueue"), Mapping):
        raise ConfigError(f"{origin}: no 'jobqueue:' sections (a dask-jobqueue config is "
                          "jobqueue: {slurm: {cores: …}, …})")  # fmt: skip
    return body["jobqueue"], origin


def _target(output: str | None, force: bool) -> Path:
    from hpcdask.config import user_config_dir  # lazy: keeps hpcdask --help light

    target = Path(output) if output else user_config_dir() / _DEFAULT_FILE
    if target.exists() and not force:
        raise ConfigError(f"{target}: already exists; give --force to overwrite it")
    return target


def _write(target: Path, resources: dict[str, Any]) -> None:
    import yaml  # lazy: keeps hpcdask --help light

    text = yaml.safe_dump({"resources": resources}, sort_keys=False, default_flow_style=False)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{target}: cannot write: {error.strerror or error}") from None


def _prove(name: str, data: Mapping[str, Any], section: Mapping[str, Any], origin: str) -> bool:
    """Print whether resource ``name`` gives dask-jobqueue's job script; True if it does."""
    # lazy: dask-jobqueue and the models are loaded only when the command runs
    from hpcdask.backends.jobqueue.importing import compare
    from hpcdask.config import ResolvedResource
    from hpcdask.resource import validate

    resource: Any = validate(ResolvedResource(name, origin, dict(data)))
    try:
        added, diff = compare(resource, name, section)
    except (ConfigError, ValueError) as error:
        click.echo(f"  {name}: job script not compared: {error}")
        return True
    if diff:
        click.echo(f"  {name}: job script differs from dask-jobqueue's:\n{diff}")
        return False
    extra = f" (hpcdask adds {added})" if added else ""
    click.echo(f"  {name}: same job script as dask-jobqueue's{extra}")
    return True


@click.command("import")
@click.argument("path", required=False, metavar="[PATH]")
@click.option("-o", "output", metavar="FILE", help="Write here (default: your hpcdask config "
              "folder's jobqueue.yaml).")  # fmt: skip
@click.option("--force", is_flag=True, help="Overwrite the file if it exists.")
def import_command(path: str | None, output: str | None, force: bool) -> None:
    """Turn a dask-jobqueue config (PATH, or your dask config's jobqueue sections) into hpcdask
    resources, one per section, and check each gives dask-jobqueue's job script."""
    from hpcdask.backends.jobqueue.importing import convert  # lazy: loads dask-jobqueue

    sections, origin = read_sections(path)
    target = _target(output, force)
    imported = convert(sections, origin)
    resources = {item.name: item.data for item in imported if not item.skipped}
    if not resources:
        raise ConfigError(f"{origin}: no jobqueue section sets anything to import")
    _write(target, resources)
    click.echo(f"wrote {len(resources)} resource(s) to {target}")
    same = True
    for item in imported:
        if item.skipped:
            click.echo(f"  jobqueue.{item.name}: skipped ({item.skipped})")
            continue
        for note in item.notes:
            click.echo(f"  {item.name}: renamed {note}")
        same = _prove(item.name, item.data, sections[item.name], origin) and same
    if not same:
        raise click.exceptions.Exit(1)
