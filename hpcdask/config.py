"""Find, read and layer resource configs: the only module that reads config files.

Resources are found by name in these places, the first one that defines a name wins:

1. the files or folders passed explicitly (``connect(config=...)``, ``hpcdask --config``),
2. ``$HPCDASK_CONFIG`` (files or folders, separated by ``os.pathsep``),
3. ``./configs/`` in the current directory,
4. the user's config folder (``$XDG_CONFIG_HOME/hpcdask``, normally ``~/.config/hpcdask``),
5. the dask config keys ``hpcdask.resources`` and ``hpcdask.default``,
6. hpcdask's built-in ``local`` resource.

A resource may name another in ``extends:``; its own keys are merged over the other's, and keys
given at call time are merged over both. Mappings merge key by key, anything else is replaced,
and a key set to nothing (``key:`` or ``None``) falls back to the default, except inside the
``dask:`` block, where ``null`` is a Dask setting of its own and is kept. Hyphens and
underscores in key names are interchangeable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hpcdask.errors import ConfigError, UnknownResourceError, did_you_mean

__all__ = [
    "CALL",
    "Catalog",
    "Definition",
    "ResolvedResource",
    "load_catalog",
    "normalise_key",
    "user_config_dir",
]

#: The origin label of keys given at call time.
CALL = "call arguments"
BUILTIN = "built-in"
DASK_CONFIG = "dask config 'hpcdask.resources'"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TOP_KEYS = ("resources", "default")
ConfigPaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None


def normalise_key(key: object) -> str:
    """Return the canonical spelling of a config key: underscores, not hyphens."""
    return str(key).replace("-", "_")


@dataclass(frozen=True)
class Definition:
    """One resource as written in one place, before ``extends`` and overrides."""

    name: str
    data: Mapping[str, Any]
    origin: str


@dataclass(frozen=True)
class ResolvedResource:
    """A resource's keys after layering, with the origin of every value.

    ``sources`` maps dotted, normalised key paths (``worker.memory``) to the label of the file
    (or ``call arguments``) that set them.
    """

    name: str
    origin: str
    data: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)

    def source_of(self, path: str) -> str:
        """Return where the value at ``path`` (or the nearest enclosing key) came from."""
        while path:
            if path in self.sources:
                return self.sources[path]
            below = [v for k, v in self.sources.items() if k.startswith(path + ".")]
            if below:
                return below[0]
            path = path.rpartition(".")[0]
        return self.origin


@dataclass(frozen=True)
class _Layer:
    definitions: dict[str, Definition]
    default: str | None = None


class Catalog:
    """All resources that can be found by name, with the default resource's name."""

    def __init__(self, layers: Iterable[_Layer]) -> None:
        self._definitions: dict[str, Definition] = {}
        self.default = "local"
        defaults = []
        for layer in layers:
            for name, definition in layer.definitions.items():
                self._definitions.setdefault(name, definition)
            if layer.default:
                defaults.append(layer.default)
        if defaults:
            self.default = defaults[0]

    def names(self) -> list[str]:
        """Return the names of all resources, sorted."""
        return sorted(self._definitions)

    def definition(self, name: str) -> Definition:
        """Return the definition that wins for ``name``."""
        try:
            return self._definitions[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            hint = did_you_mean(name, self._definitions)
            raise UnknownResourceError(
                f"unknown resource '{name}'{hint}; known resources: {known}"
            ) from None

    def resolve(
        self, name: str | None = None, overrides: Mapping[str, Any] | None = None
    ) -> ResolvedResource:
        """Return resource ``name`` (or the default) with ``extends`` and overrides applied."""
        name = name or self.default
        definition = self.definition(name)
        data, sources = self._layered(name, [])
        if overrides:
            data = _merge(data, overrides, CALL, sources, "")
        return ResolvedResource(name, definition.origin, data, sources)

    def _layered(self, name: str, chain: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
        definition = self.definition(name)
        own = dict(definition.data)
        parent = own.pop("extends", None)
        sources: dict[str, str] = {}
        base: dict[str, Any] = {}
        if parent is not None:
            where = f"{definition.origin}: resource '{name}': extends"
            if not isinstance(parent, str):
                raise ConfigError(f"{where}: expected a resource name, got {parent!r}")
            if parent in [*chain, name]:
                cycle = " → ".join([*chain, name, parent])
                raise ConfigError(f"{where}: cycle {cycle}")
            if parent not in self._definitions:
                hint = did_you_mean(parent, self._definitions)
                raise ConfigError(f"{where}: unknown resource '{parent}'{hint}")
            base, sources = self._layered(parent, [*chain, name])
        return _merge(base, own, definition.origin, sources, ""), sources


#: Lists that published dask-jobqueue configs write in YAML's set notation (``job-extra:
#: {-C geyser}``, keys mapped to nothing): read as the list of its keys, as dask-jobqueue does.
_SET_NOTATION = frozenset({"job_extra", "job_extra_directives", "env_extra",
                           "job_script_prologue", "extra", "worker_extra_args"})  # fmt: skip

#: Where ``null`` is a value, not "fall back to the default": Dask config keeps ``None``
#: (``distributed.comm.compression: null``, a port or a timeout left unset).
_KEPT_NULLS = "dask."


def _merge(
    base: Mapping[str, Any],
    top: Mapping[str, Any],
    origin: str,
    sources: dict[str, str],
    prefix: str,
) -> dict[str, Any]:
    """Merge ``top`` over ``base`` (recursively for mappings), recording origins in ``sources``."""
    out = dict(base)
    spelled = {normalise_key(k): k for k in out}
    for key, value in top.items():
        norm = normalise_key(key)
        path = prefix + norm
        old = spelled.pop(norm, None)
        previous = out.pop(old) if old is not None else None
        if norm in _SET_NOTATION and isinstance(value, Mapping) and value:
            value = list(value) if all(v is None for v in value.values()) else value
        if value is None and not path.startswith(_KEPT_NULLS):
            _forget(sources, path)
            continue
        if isinstance(value, Mapping):
            if not isinstance(previous, Mapping):
                _forget(sources, path)
                previous = {}
            out[key] = _merge(previous, value, origin, sources, path + ".")
        else:
            _forget(sources, path)
            out[key] = value
            sources[path] = origin
        spelled[norm] = key
    return out


def _forget(sources: dict[str, str], path: str) -> None:
    for key in [k for k in sources if k == path or k.startswith(path + ".")]:
        del sources[key]


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _label(path: Path) -> str:
    """Return how messages name ``path``: relative to the current folder or home if inside."""
    path = path.absolute()
    for root, shown in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            return shown + str(path.relative_to(root))
        except ValueError:
            continue
    return str(path)


def _read_yaml(path: Path) -> Any:
    label = _label(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{label}: cannot read: {error.strerror or error}") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None


def _definitions(body: Any, origin: str) -> _Layer:
    """Check the top level of one config document and return its resources."""
    if body is None:
        return _Layer({})
    if not isinstance(body, Mapping):
        raise ConfigError(f"{origin}: expected a mapping with a 'resources:' key, got {body!r}")
    for key in body:
        if key not in _TOP_KEYS:
            hint = did_you_mean(str(key), _TOP_KEYS)
            raise ConfigError(
                f"{origin}: unknown top-level key '{key}'{hint}; expected "
                "'resources' (and optionally 'default')"
            )
    resources = body.get("resources") or {}
    if not isinstance(resources, Mapping):
        raise ConfigError(
            f"{origin}: resources: expected a mapping of names to resources, got {resources!r}"
        )
    default = body.get("default")
    if default is not None and not isinstance(default, str):
        raise ConfigError(f"{origin}: default: expected a resource name, got {default!r}")
    found = {}
    for name, data in resources.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(
                f"{origin}: resource name {name!r} is not valid: use letters, "
                "digits, '-', '_' and '.', starting with a letter or digit"
            )
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{origin}: resource '{name}': expected a mapping of keys, got {data!r}"
            )
        _check_spellings(data, f"{origin}: resource '{name}'")
        found[name] = Definition(name, data, origin)
    return _Layer(found, default)


def _check_spellings(data: Mapping[Any, Any], where: str, prefix: str = "") -> None:
    """Refuse one key spelt two ways in one mapping (``job-name`` and ``job_name``)."""
    seen: dict[str, str] = {}
    for key, value in data.items():
        norm = normalise_key(key)
        shown = prefix + str(key).replace("_", "-")
        if norm in seen:
            raise ConfigError(f"{where}: {shown}: given twice, as '{seen[norm]}' and '{key}'")
        seen[norm] = str(key)
        if isinstance(value, Mapping):
            _check_spellings(value, where, shown + ".")


def _files(path: Path, what: str, required: bool) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if path.is_file():
        return [path]
    if required:
        raise ConfigError(f"{what}: no such file or folder: {path}")
    return []


def _folder_layer(paths: Iterable[Path]) -> _Layer:
    """Read several files into one layer, refusing a name defined twice in it."""
    merged: dict[str, Definition] = {}
    default = None
    for path in paths:
        layer = _definitions(_read_yaml(path), _label(path))
        for name, definition in layer.definitions.items():
            if name in merged:
                raise ConfigError(
                    f"resource '{name}' is defined twice: in "
                    f"{merged[name].origin} and in {definition.origin}"
                )
            merged[name] = definition
        default = default or layer.default
    return _Layer(merged, default)


def user_config_dir() -> Path:
    """Return the folder of the user's resource configs (it need not exist)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "hpcdask"


def _as_paths(config: ConfigPaths) -> list[Path]:
    if config is None:
        return []
    if isinstance(config, (str, os.PathLike)):
        return [Path(config)]
    return [Path(p) for p in config]


def _dask_layer() -> _Layer:
    import dask.config

    resources = dask.config.get("hpcdask.resources", default=None)
    default = dask.config.get("hpcdask.default", default=None)
    return _definitions({"resources": resources, "default": default}, DASK_CONFIG)


def _builtin_layer() -> _Layer:
    body = yaml.safe_load((Path(__file__).parent / "builtin.yaml").read_text(encoding="utf-8"))
    return _definitions(body, BUILTIN)


def load_catalog(config: ConfigPaths = None) -> Catalog:
    """Read every config that hpcdask looks in and return the catalog of resources.

    Parameters
    ----------
    config
        Extra files or folders to read first; they win over every other place.

    Examples
    --------
    >>> catalog = load_catalog()
    >>> "local" in catalog.names()
    True
    """
    layers = [_folder_layer(_files(p, str(p), True)) for p in _as_paths(config)]
    for entry in filter(None, os.environ.get("HPCDASK_CONFIG", "").split(os.pathsep)):
        layers.append(_folder_layer(_files(Path(entry), "$HPCDASK_CONFIG", True)))
    for folder in (Path("configs"), user_config_dir()):
        layers.append(_folder_layer(_files(folder, str(folder), False)))
    layers += [_dask_layer(), _builtin_layer()]
    return Catalog(layers)
