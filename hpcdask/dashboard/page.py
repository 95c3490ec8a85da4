"""The Bokeh page ``/hpcdask`` on the scheduler's own dashboard, linked from its navigation.

distributed serves its pages as Bokeh applications on the scheduler's HTTP server
(``distributed.dashboard.scheduler.connect``). This module adds one more application the same
way, with distributed's own helper, page template, theme and navigation variables, so the page
looks and behaves like the others and no second web server is started. The navigation bar of
every page is drawn from one shared list of page names, to which ``hpcdask`` is added.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from bokeh.layouts import column
from bokeh.models.ranges import DataRange1d
from bokeh.models.sources import ColumnDataSource
from bokeh.models.widgets.markups import Div
from bokeh.models.widgets.tables import DataTable, TableColumn
from bokeh.plotting import figure
from bokeh.server.tornado import BokehTornado
from distributed.dashboard.components import add_periodic_callback
from distributed.dashboard.components.scheduler import BOKEH_THEME, env
from distributed.dashboard.core import BokehApplication
from distributed.dashboard.scheduler import template_variables
from tornado.ioloop import IOLoop

from hpcdask.dashboard.html import COLUMNS, cells, summary_html
from hpcdask.dashboard.snapshot import HISTORY, INTERVAL, PAGE

if TYPE_CHECKING:
    from hpcdask.dashboard.plugin import DashboardPlugin

__all__ = ["Page", "replace_data", "serve"]

#: The plot's lines: count → (colour, dash, width); requested is drawn over connected.
LINES = {
    "connected": ("#2ca02c", "solid", 5),
    "requested": ("#1f77b4", "dashed", 2),
    "pending": ("#ff7f0e", "dotted", 2),
}


class Page:
    """One browser session's view: heading, table of placements, plot of worker counts.

    Bokeh models carry names (``hpcdask-summary``, ``hpcdask-table``, ``hpcdask-history``) so
    that tests and scripts can find them in the browser's document.
    """

    def __init__(self, plugin: DashboardPlugin) -> None:
        self.plugin = plugin
        snapshot = plugin.latest or plugin.snapshot()
        self.summary = Div(name="hpcdask-summary", sizing_mode="stretch_width")
        self.rows = ColumnDataSource({key: [] for key in COLUMNS}, name="hpcdask-rows")
        titles = {**COLUMNS, "id": snapshot.kind.title()}
        self.table = DataTable(
            source=self.rows,
            columns=[TableColumn(field=key, title=title) for key, title in titles.items()],
            name="hpcdask-table",
            index_position=None,
            reorderable=False,
            sizing_mode="stretch_width",
            height=220,
        )
        self.history = ColumnDataSource(
            {"time": [], **{k: [] for k in LINES}}, name="hpcdask-history"
        )
        self.root = column(self.summary, self.table, self._plot(), sizing_mode="stretch_width")
        self._last = 0.0
        self.update()

    def _plot(self) -> Any:
        plot = figure(
            title="Workers: requested, connected, and pending jobs",
            x_axis_type="datetime",
            height=300,
            sizing_mode="stretch_width",
            tools="",
            toolbar_location=None,
            name="hpcdask-plot",
            y_range=DataRange1d(start=0),
        )
        for key, (colour, dash, width) in LINES.items():
            plot.step(
                "time", key, source=self.history, mode="after", color=colour, line_dash=dash,
                line_width=width, line_alpha=0.6 if width > 2 else 1.0, legend_label=key,
            )  # fmt: skip
        plot.legend.location = "top_left"
        return plot

    def update(self) -> None:
        """Show the latest snapshot, and stream the samples taken since the last update."""
        snapshot = self.plugin.latest or self.plugin.snapshot()
        self.summary.text = summary_html(snapshot)
        table = [cells(row) for row in snapshot.rows]
        replace_data(self.rows, {key: [row[key] for row in table] for key in COLUMNS})
        new = [s for s in self.plugin.history if s.time > self._last]
        if new:
            self._last = new[-1].time
            points = {key: [getattr(s, key) for s in new] for key in LINES}
            self.history.stream({"time": [s.time * 1000 for s in new], **points}, HISTORY)


def replace_data(source: ColumnDataSource, data: dict[str, list[str]]) -> None:
    """Replace a table's data, if it changed.

    BokehJS (3.9) redraws a DataTable only when its number of rows changes: new data of the
    same length leaves the old cells on screen. Going through an empty table (two changes,
    applied in order by the browser) makes it redraw.
    """
    if source.data == data:
        return
    if len(source.data["id"]) == len(data["id"]):
        source.data = {key: [] for key in data}
    source.data = data


def _document(plugin: DashboardPlugin, scheduler: Any, extra: dict[str, Any], doc: Any) -> None:
    page = Page(plugin)
    doc.title = f"Dask: hpcdask {plugin.heading.name}"
    doc.add_root(page.root)
    add_periodic_callback(doc, page, int(INTERVAL * 1000))  # type: ignore[no-untyped-call]
    doc.template = env.get_template("simple.html")
    doc.template_variables.update(extra)
    doc.theme = BOKEH_THEME


def _dashboard(scheduler: Any) -> Any:
    """Return the scheduler's Bokeh dashboard application, or None if it has none."""
    http = getattr(scheduler, "http_application", None)
    apps = getattr(http, "applications", [])
    return next((app for app in apps if isinstance(app, BokehTornado)), None)


def _link(variables: dict[str, Any]) -> None:
    """Add the page to the navigation bar (before ``info``, the last entry)."""
    pages = variables.get("pages")
    if isinstance(pages, list) and PAGE not in pages:
        pages.insert(pages.index("info") if "info" in pages else len(pages), PAGE)


def serve(scheduler: Any, plugin: DashboardPlugin) -> bool:
    """Serve the page on ``scheduler``'s dashboard; return False if it has no dashboard."""
    dashboard = _dashboard(scheduler)
    if dashboard is None:
        return False
    variables = template_variables(scheduler)  # memoized: the dict every page renders with
    _link(variables)
    application = BokehApplication(  # type: ignore[no-untyped-call]
        {f"/{PAGE}": functools.partial(_document, plugin)},
        scheduler,
        prefix=dashboard.prefix,
        template_variables=variables,
    )
    scheduler.http_application.add_application(application)
    application.initialize(IOLoop.current())
    return True
