"""Snapshots as text and HTML: the cells of the table, the page's heading, the widgets' view.

Examples
--------
>>> duration(3725), duration(None)
('1:02:05', '—')
"""

from __future__ import annotations

from html import escape

from hpcdask.dashboard.describe import Row
from hpcdask.dashboard.snapshot import Snapshot

__all__ = ["COLUMNS", "cells", "duration", "scaling", "snapshot_html", "summary_html"]

#: The table's columns: key in :func:`cells` → title (``id``'s title is the snapshot's kind).
COLUMNS = {
    "id": "",
    "state": "State",
    "nodes": "Nodes",
    "walltime": "Walltime left",
    "workers": "Workers",
    "note": "Note",
}


def duration(seconds: float | None) -> str:
    """Return ``seconds`` as H:MM:SS, or a dash when unknown."""
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def cells(row: Row) -> dict[str, str]:
    """Return the table cells of ``row``, keyed as :data:`COLUMNS`."""
    names = ", ".join(row.workers)
    count = f"{len(row.workers)}/{row.expected}" if row.expected else str(len(row.workers))
    walltime = duration(row.walltime_left)
    return {
        "id": row.id,
        "state": row.state,
        "nodes": row.nodes,
        "walltime": f"≈{walltime}" if row.estimated else walltime,
        "workers": f"{count}: {names}" if names else count,
        "note": row.note,
    }


def scaling(snapshot: Snapshot) -> str:
    """Return how the cluster scales: ``adaptive 0 to 4 workers`` or ``fixed``."""
    if snapshot.adaptive is None:
        return "fixed"
    low, high = snapshot.adaptive
    return f"adaptive {low} to {'∞' if high is None else high} workers"


def summary_html(snapshot: Snapshot, link: str = "") -> str:
    """Return the heading: resource, type, where it runs, worker counts, scaling, page link."""
    head = snapshot.heading
    pending = f" · pending jobs: <b>{snapshot.pending}</b>" if snapshot.kind == "job" else ""
    anchor = f' · <a href="{escape(link)}" target="_blank">{escape(link)}</a>' if link else ""
    return (
        f'<div class="hpcdask-summary"><h3 style="margin: 4px 0">{escape(head.name)} '
        f'<span style="color: #888; font-weight: normal">({escape(head.type)})</span></h3>'
        f"<div>{escape(head.where)}</div>"
        f"<div>workers: <b>{snapshot.connected}</b> connected / <b>{snapshot.requested}</b> "
        f"requested{pending} · scaling: {escape(scaling(snapshot))}{anchor}</div></div>"
    )


def _table(snapshot: Snapshot) -> str:
    titles = {**COLUMNS, "id": snapshot.kind.title()}
    head = "".join(f'<th style="text-align: left">{escape(t)}</th>' for t in titles.values())
    body = "".join(
        "<tr>"
        + "".join(f'<td style="text-align: left">{escape(v)}</td>' for v in cells(r).values())
        + "</tr>"
        for r in snapshot.rows
    )
    empty = f'<tr><td colspan="{len(titles)}">no {escape(snapshot.kind)}s yet</td></tr>'
    return f'<table class="hpcdask-table"><tr>{head}</tr>{body or empty}</table>'


def snapshot_html(snapshot: Snapshot, link: str = "") -> str:
    """Return the heading and the table of ``snapshot``, for a notebook."""
    return summary_html(snapshot, link) + _table(snapshot)
