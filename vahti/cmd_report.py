"""`vahti report weekly`: the weekly exposure report as HTML, Markdown or JSON."""

from __future__ import annotations

from pathlib import Path

import click

from vahti.clictx import config_of
from vahti.display import echo
from vahti.errors import VahtiError
from vahti.outfiles import write_private
from vahti.reports.week import Week, WeekError
from vahti.spiders.sources import Source, SourcesError, read_sources, sources_path
from vahti.storage.clock import now
from vahti.wiring import open_db

FORMATS = ("html", "md", "json")


@click.group("report")
def report_group() -> None:
    """Exposure reports for management and the data-protection officer."""


@report_group.command("weekly")
@click.option("--week", "week_text", metavar="YYYY-Www",
              help="ISO week in UTC, e.g. 2026-W47. Default: the current week.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True,
              help="html: one self-contained file; md: for tickets; json: see "
                   "reports/weekly.schema.json.")
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True),
              help="Write the report to this file (mode 0600) instead of stdout.")
@click.pass_context
def report_weekly(ctx: click.Context, week_text: str | None, fmt: str, out: str | None) -> None:
    """Newly exposed persons, sources, pages, alerts, source health and a DPO section.

    Counts and pseudonymous refs only: no identifier value, no page text.
    """
    at = now()
    try:
        week = Week.parse(week_text) if week_text is not None else Week.containing(at)
    except WeekError as exc:
        raise VahtiError(f"--week: {exc}") from None
    # imported here: only this command needs them
    from vahti.reports.render_html import render_html
    from vahti.reports.render_json import render_json
    from vahti.reports.render_md import render_md
    from vahti.reports.weekly import build_weekly

    if out is not None and not Path(out).parent.is_dir():
        raise VahtiError(f"cannot write {out}: no such directory {Path(out).parent}")
    cfg = config_of(ctx)
    sources: list[Source] = []
    note = ""
    try:
        read = read_sources(sources_path(cfg.home))
    except SourcesError as exc:  # names the file and the place, never a secret
        note = f"source health not checked: {exc}"
    else:
        sources = list(read.sources.values())
        if read.problems:
            note = (f"{len(read.problems)} source definitions in sources.toml are invalid "
                    "and not checked (vahti sources check)")
    with open_db(cfg) as storage:
        report = build_weekly(storage, week, sources, at, sources_note=note)
    render = {"html": render_html, "md": render_md, "json": render_json}[fmt]
    text = render(report)
    if out is None:
        echo(text, nl=not text.endswith("\n"))
        return
    write_private(Path(out), text)
    echo(f"weekly report {week.id} ({fmt}) written to {out}: "
         f"{report.headline.new_persons} newly exposed persons, "
         f"{report.headline.total_exposed} exposed to date")
