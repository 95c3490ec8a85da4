"""Notebook widgets: a launcher that picks, starts, scales and watches clusters; a cluster view.

Both need the ``notebook`` extra (``pip install 'hpcdask[notebook]'``). The launcher starts
clusters the way ``hpcdask up`` does, in a controller process of their own, so they outlive
the notebook's kernel; ``hpcdask down NAME`` (or the Stop button) ends them.

Examples
--------
>>> import hpcdask.widgets
>>> ui = hpcdask.widgets.launcher()  # doctest: +SKIP
>>> ui  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from html import escape
from typing import TYPE_CHECKING, Any, TypeVar

from tornado.ioloop import PeriodicCallback

from hpcdask.api import list_resources, load_resource
from hpcdask.attached import AttachedCluster
from hpcdask.dashboard.describe import where
from hpcdask.dashboard.html import snapshot_html
from hpcdask.dashboard.snapshot import ask, from_cluster, page_link
from hpcdask.errors import ConfigError, HpcdaskError
from hpcdask.lifecycle import down, up
from hpcdask.remote import find_running

if TYPE_CHECKING:
    from distributed.deploy.cluster import Cluster

    from hpcdask.config import ConfigPaths
    from hpcdask.dashboard.snapshot import Snapshot
    from hpcdask.models import Resource
    from hpcdask.state import Record

__all__ = ["ClusterView", "Launcher", "launcher", "view"]

T = TypeVar("T")
#: How often (milliseconds) the status table refreshes.
REFRESH_MS = 1000


def _ipywidgets() -> Any:
    """Return the ipywidgets module, or raise with the command that installs it."""
    try:
        import ipywidgets  # lazy: an optional dependency (the notebook extra)
    except ImportError as error:
        raise ImportError(
            "hpcdask's notebook widgets need ipywidgets: pip install 'hpcdask[notebook]'"
        ) from error
    return ipywidgets


def _off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn``, in a helper thread if this thread runs an event loop (a kernel's does):
    talking to a controller runs an event loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args, **kwargs)
    with ThreadPoolExecutor(1, thread_name_prefix="hpcdask-widget") as pool:
        return pool.submit(fn, *args, **kwargs).result()


class _StatusTable:
    """An HTML widget showing a cluster's snapshot, refreshed on the cluster's event loop."""

    def __init__(self, html: Any, cluster: Cluster) -> None:
        self.html = html
        self.cluster = cluster
        self.link = page_link(cluster)
        self.served = True  # does the scheduler take snapshots (serve the hpcdask page)?
        self.snapshot = self.refresh()

    def _show(self, snapshot: Snapshot) -> Snapshot:
        self.snapshot = snapshot
        self.html.value = snapshot_html(snapshot, self.link)
        return snapshot

    async def _fetch(self) -> Snapshot:
        """Ask the scheduler, unless it said once that it takes no snapshots."""
        snapshot = await ask(self.cluster) if self.served else None
        self.served = snapshot is not None
        return snapshot or from_cluster(self.cluster)

    def refresh(self) -> Snapshot:
        """Fetch the cluster's snapshot now and show it."""
        snapshot: Snapshot = self.cluster.sync(self._fetch)  # type: ignore[no-untyped-call]
        return self._show(snapshot)

    async def _tick(self) -> None:
        self._show(await self._fetch())

    def watch(self) -> None:
        """Refresh every second until the cluster (or this attachment) closes."""
        callback = PeriodicCallback(self._tick, REFRESH_MS)
        self.cluster.periodic_callbacks[f"hpcdask-status-{id(self)}"] = callback  # closing stops it
        assert self.cluster.loop is not None
        self.cluster.loop.add_callback(callback.start)


class ClusterView:
    """A cluster in a notebook: resource, type, placements (hosts, jobs…) and the hpcdask page
    link, above distributed's own cluster widget (its status and scaling tabs)."""

    def __init__(self, cluster: Cluster) -> None:
        widgets = _ipywidgets()
        self.cluster = cluster
        self.status = _StatusTable(widgets.HTML(), cluster)
        self.status.watch()
        native = cluster._widget()  # type: ignore[no-untyped-call]
        self.widget = widgets.VBox([self.status.html, *([native] if native else [])])

    def _repr_html_(self) -> str:
        return snapshot_html(self.status.snapshot, self.status.link)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = self.widget._repr_mimebundle_(**kwargs) or {}
        bundle.update({"text/plain": repr(self.cluster), "text/html": self._repr_html_()})
        return bundle


def view(cluster: Cluster) -> ClusterView:
    """Return a live notebook view of ``cluster`` (any Dask cluster; hpcdask's show more).

    Examples
    --------
    >>> cluster = hpcdask.connect("local")  # doctest: +SKIP
    >>> hpcdask.widgets.view(cluster)  # doctest: +SKIP
    """
    return ClusterView(cluster)


def _resource_html(resource: Resource, running: Record | None) -> str:
    """Return a resource's summary: type, where it runs, workers, scaling, file, state."""
    worker = resource.worker
    sizes = [f"{k} {v}" for k, v in (("cores", worker.cores), ("processes", worker.processes)) if v]
    if worker.memory:
        sizes.append(f"memory {worker.memory / 1e9:g} GB")
    scaling = resource.scaling
    bounds = f"adaptive {scaling.minimum or 0} to {scaling.maximum}" if scaling.adaptive else None
    state = f"running at {running.scheduler_address}" if running else "not running"
    lines = [
        f"<b>{escape(resource.name)}</b> ({escape(resource.type)}) {escape(resource.description)}",
        f"where: {escape(where(resource))}",
        f"worker: {escape(', '.join(sizes) or 'defaults')}",
        f"scaling: {escape(bounds or str(scaling.workers or 'backend default'))}",
        f"from: {escape(resource.origin or 'built in')} · {escape(state)}",
    ]
    return "<br>".join(lines)


def _reporting(method: Callable[[Launcher], None]) -> Callable[[Launcher, Any], None]:
    """Make ``method`` a button handler that shows hpcdask's errors in the launcher."""

    @functools.wraps(method)
    def handler(self: Launcher, _button: Any = None) -> None:
        self.message.value = ""
        try:
            method(self)
        except HpcdaskError as error:
            lines = "<br>".join(escape(line) for line in str(error).splitlines())
            self.message.value = f'<span style="color: #c00">{lines}</span>'

    return handler


class Launcher:
    """Pick a resource, start it (or attach to it if it runs), scale it, watch it, stop it.

    The controls are attributes, so code can drive them as a person would: ``resource``
    (Dropdown), ``start``, ``stop``, ``scale``, ``adapt`` (Buttons), ``workers``, ``minimum``,
    ``maximum`` (integer fields); ``summary``, ``message`` and ``status`` show what happens.
    """

    def __init__(self, config: ConfigPaths = None) -> None:
        w = _ipywidgets()
        self.config = config
        self.cluster: AttachedCluster | None = None
        self._table: _StatusTable | None = None
        self.resource = w.Dropdown(options=list_resources(config), description="Resource")
        self.start, self.stop = w.Button(description="Start"), w.Button(description="Stop")
        self.workers = w.BoundedIntText(1, min=0, max=100_000, description="Workers")
        self.minimum = w.BoundedIntText(0, min=0, max=100_000, description="Minimum")
        self.maximum = w.BoundedIntText(4, min=1, max=100_000, description="Maximum")
        self.scale, self.adapt = w.Button(description="Scale"), w.Button(description="Adapt")
        self.summary, self.message, self.status = w.HTML(), w.HTML(), w.HTML()
        self.widget = w.VBox(
            [
                w.HBox([self.resource, self.start, self.stop]),
                self.summary,
                w.HBox([self.workers, self.scale]),
                w.HBox([self.minimum, self.maximum, self.adapt]),
                self.message,
                self.status,
            ]
        )
        self._wire()

    def _wire(self) -> None:
        self.resource.observe(lambda _change: self._describe(), names="value")
        self.start.on_click(self._start)
        self.stop.on_click(self._stop)
        self.scale.on_click(self._scale)
        self.adapt.on_click(self._adapt)
        self._describe()

    def _describe(self) -> None:
        """Show the chosen resource's summary (or its config errors); label the start button."""
        self._controls()
        running = find_running(self.resource.value) if self.resource.value else None
        self.start.description = "Attach" if running else "Start"
        try:
            resource = load_resource(self.resource.value, config=self.config)
        except ConfigError as error:
            lines = "<br>".join(escape(line) for line in error.lines)
            self.summary.value = f'<span style="color: #c00">{lines}</span>'
            return
        self.summary.value = _resource_html(resource, running)
        if resource.scaling.workers is not None:
            self.workers.value = resource.scaling.workers

    def _controls(self) -> None:
        attached = self.cluster is not None
        for button in (self.stop, self.scale, self.adapt):
            button.disabled = not attached

    @_reporting
    def _start(self) -> None:
        """Start the chosen resource in its own controller, or attach to it if it runs."""
        resource = load_resource(self.resource.value, config=self.config)
        self.message.value = f"Starting {escape(resource.name)}…"
        self._attach(_off_loop(up, resource))
        self.message.value = ""

    def _attach(self, record: Record) -> None:
        self._detach()
        self.cluster = cluster = AttachedCluster(record)
        self._table = _StatusTable(self.status, cluster)
        self._table.watch()
        self.workers.value = self._table.snapshot.requested
        self.start.description = "Attach"
        self._controls()

    def _detach(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
        self.cluster, self._table = None, None
        self._controls()

    @_reporting
    def _stop(self) -> None:
        """Stop the attached cluster: its workers, jobs and controller."""
        if self.cluster is None:
            return
        name = self.cluster.record.name
        self._detach()
        _off_loop(down, name)
        self.status.value = f"{escape(name)}: stopped"
        self._describe()

    @_reporting
    def _scale(self) -> None:
        if self.cluster is not None:
            _off_loop(self.cluster.scale, self.workers.value)
            self.refresh()

    @_reporting
    def _adapt(self) -> None:
        if self.cluster is not None:
            _off_loop(self.cluster.adapt, minimum=self.minimum.value, maximum=self.maximum.value)
            self.refresh()

    def refresh(self) -> Snapshot | None:
        """Show the attached cluster's state now (it also refreshes every second)."""
        return self._table.refresh() if self._table is not None else None

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = self.widget._repr_mimebundle_(**kwargs) or {}
        return bundle


def launcher(config: ConfigPaths = None) -> Launcher:
    """Return a launcher: pick a resource, start or attach, scale or adapt, watch, stop.

    Parameters
    ----------
    config
        Extra config files or folders, searched before all others.

    Examples
    --------
    >>> ui = launcher()  # doctest: +SKIP
    >>> ui.resource.value = "local"; ui.start.click()  # doctest: +SKIP
    >>> ui.workers.value = 3; ui.scale.click()  # doctest: +SKIP
    """
    return Launcher(config)
