"""The daily trend chart as a small self-contained inline SVG, written by hand.

Two bar panels over the days (newly exposed persons, sightings), the previous week
shaded, integer y ticks with grid lines, the value over each bar, the day under each
column. Written directly rather than with a plotting library: matplotlib (about 94 MB
installed) for one bar chart was not worth it.

Every text goes through XML escaping, so whatever a caller passes (the title) is shown
as text and never read as markup. The SVG refers to nothing outside itself; its font is
inherited from the page (the report's CSS names DejaVu Sans first), with generic
fall-backs.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from vahti.reports.model import Day

NEW_COLOUR = "#c0392b"
SEEN_COLOUR = "#2c3e50"
PREVIOUS_SHADE = "#eeeeee"
GRID_COLOUR = "#dddddd"
MUTED_COLOUR = "#777777"
CSS_CLASS = "vahti-trend"
FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"

WIDTH, HEIGHT = 900, 420  # user units (the figure scales to its container)
LEFT, RIGHT, TOP, BOTTOM = 62, 12, 14, 44  # room for y labels, x labels, headroom
TITLE_HEIGHT = 20
PANEL_GAP = 22
BAR_WIDTH = 0.7  # of a day's column
MAX_TICKS = 5


def trend_svg(days: Sequence[Day], title: str = "") -> str:
    """Two panels over the days: newly exposed persons (bars) and sightings (bars),
    the previous week shaded. Returns an `<svg>` element."""
    top = TOP + (TITLE_HEIGHT if title else 0)
    panel_h = (HEIGHT - top - BOTTOM - PANEL_GAP) / 2
    column = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    parts = [f'<svg class="{CSS_CLASS}" xmlns="http://www.w3.org/2000/svg" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
             f'font-family={quoteattr(FONT)} font-size="11">']
    if title:
        parts.append(_text(LEFT, TOP + 12, title, size=13, anchor="start"))
    panels = (([d.new_persons for d in days], NEW_COLOUR, "newly exposed persons"),
              ([d.sightings for d in days], SEEN_COLOUR, "sightings"))
    for n, (values, colour, label) in enumerate(panels):
        y0 = top + n * (panel_h + PANEL_GAP)
        parts += _panel(days, values, colour, label, y0, panel_h, column,
                        note="previous week" if n == 0 else "")
    base = top + 2 * panel_h + PANEL_GAP
    for i, d in enumerate(days):
        x = LEFT + (i + 0.5) * column
        parts.append(_line(x, base, x, base + 4, "#000000"))
        parts.append(_text(x, base + 17, f"{d.date:%a}"))
        parts.append(_text(x, base + 31, f"{d.date:%d.%m.}"))
    parts.append("</svg>")
    return "\n".join(parts)


def _panel(days: Sequence[Day], values: list[int], colour: str, label: str, y0: float,
           height: float, column: float, note: str) -> list[str]:
    """One panel's shading, grid, ticks, bars, value labels, axes and y label."""
    step = tick_step(max(values, default=0))
    y_max = max(max(values, default=0), 1) * 1.25
    base = y0 + height
    right = LEFT + column * len(days)

    def y(v: float) -> float:
        return base - v / y_max * height

    out: list[str] = []
    previous = [i for i, d in enumerate(days) if not d.in_week]
    if previous:
        x = LEFT + min(previous) * column
        out.append(_rect(x, y0, (max(previous) + 1 - min(previous)) * column, height,
                         PREVIOUS_SHADE))
        if note:
            out.append(_text(x + 6, y0 + 13, note, size=10, anchor="start",
                             colour=MUTED_COLOUR))
    for tick in range(0, int(y_max) + 1, step):
        out.append(_line(LEFT, y(tick), right, y(tick), GRID_COLOUR, width=0.6))
        out.append(_line(LEFT - 4, y(tick), LEFT, y(tick), "#000000"))
        out.append(_text(LEFT - 7, y(tick) + 4, str(tick), anchor="end"))
    for i, v in enumerate(values):
        if not v:
            continue
        x = LEFT + (i + (1 - BAR_WIDTH) / 2) * column
        out.append(_rect(x, y(v), BAR_WIDTH * column, base - y(v), colour))
        out.append(_text(x + BAR_WIDTH * column / 2, y(v) - 4, str(v), size=10))
    out.append(_line(LEFT, y0, LEFT, base, "#000000"))
    out.append(_line(LEFT, base, right, base, "#000000"))
    mid = y0 + height / 2
    out.append(f'<text x="16" y="{mid:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 16 {mid:.1f})">{escape(label)}</text>')
    return out


def tick_step(top: int) -> int:
    """An integer step of 1, 2 or 5 times a power of ten giving at most MAX_TICKS
    intervals up to `top` (and its headroom)."""
    span = max(top, 1) * 1.25
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if span / step <= MAX_TICKS:
                return step
        magnitude *= 10


def _text(x: float, y: float, text: str, size: int = 11, anchor: str = "middle",
          colour: str = "#000000") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{colour}">{escape(text)}</text>')


def _rect(x: float, y: float, w: float, h: float, colour: str) -> str:
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{colour}"/>'


def _line(x1: float, y1: float, x2: float, y2: float, colour: str,
          width: float = 1.0) -> str:
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{colour}" stroke-width="{width:g}"/>')
