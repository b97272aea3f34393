"""The daily trend chart as a self-contained inline SVG (matplotlib, Agg).

Text is drawn as paths (`svg.fonttype = 'path'`), so the SVG needs no font; the XML
prolog, DOCTYPE and metadata are dropped, so it can be placed inside HTML and refers
to nothing outside itself.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

from matplotlib import rc_context  # noqa: E402 - after choosing the backend
from matplotlib.figure import Figure  # noqa: E402

from reports.model import Day  # noqa: E402

NEW_COLOUR = "#c0392b"
SEEN_COLOUR = "#2c3e50"
PREVIOUS_SHADE = "#eeeeee"
CSS_CLASS = "vahti-trend"

RC = {
    "svg.fonttype": "path",
    "svg.hashsalt": "vahti-weekly",  # stable ids: the same data gives the same SVG
    "font.family": "DejaVu Sans",  # bundled with matplotlib: the same on every machine
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_STRIP = (
    re.compile(r"<\?xml[^>]*\?>\s*"),
    re.compile(r"<!DOCTYPE[^>]*>\s*"),
    re.compile(r"<metadata>.*?</metadata>\s*", re.S),
)


def trend_svg(days: Sequence[Day], title: str = "") -> str:
    """Two panels over the days: newly exposed persons (bars) and sightings (bars),
    the previous week shaded. Returns an `<svg>` element."""
    labels = [f"{d.date:%a}\n{d.date:%d.%m.}" for d in days]
    x = list(range(len(days)))
    with rc_context(RC):
        fig = Figure(figsize=(9.0, 4.2), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True)
        panels = ((top, [d.new_persons for d in days], NEW_COLOUR, "newly exposed persons"),
                  (bottom, [d.sightings for d in days], SEEN_COLOUR, "sightings"))
        for ax, values, colour, label in panels:
            previous = [i for i, d in enumerate(days) if not d.in_week]
            if previous:
                ax.axvspan(min(previous) - 0.5, max(previous) + 0.5, color=PREVIOUS_SHADE,
                           zorder=0, linewidth=0)
            bars = ax.bar(x, values, color=colour, width=0.7, zorder=2)
            ax.bar_label(bars, labels=[str(v) if v else "" for v in values], fontsize=8,
                         padding=2)
            ax.set_ylabel(label)
            ax.set_ylim(0, max(max(values, default=0), 1) * 1.25)
            ax.yaxis.get_major_locator().set_params(integer=True)
            ax.grid(axis="y", color="#dddddd", linewidth=0.6, zorder=1)
            ax.set_xlim(-0.5, len(days) - 0.5)
        bottom.set_xticks(x, labels)
        if title:
            top.set_title(title, loc="left", fontsize=10)
        if any(not d.in_week for d in days):
            top.text(0.01, 0.97, "previous week", transform=top.transAxes, va="top",
                     fontsize=8, color="#777777")
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    for pattern in _STRIP:
        svg = pattern.sub("", svg)
    # matplotlib's `*{...}` rule would style the whole HTML page the SVG sits in: scope it
    svg = svg.replace("<svg ", f'<svg class="{CSS_CLASS}" ', 1)
    svg = svg.replace('<style type="text/css">*{',
                      f'<style type="text/css">svg.{CSS_CLASS} *{{', 1)
    return svg.strip()
