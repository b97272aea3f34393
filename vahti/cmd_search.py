"""`vahti search`: is this person exposed, and where — over everything seen so far."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime

import click
from rich.table import Table

from storage import candidate_index
from vahti.clictx import config_of, console
from vahti.errors import VahtiError
from vahti.search import Answer, Query, parse_lines, ref_query, search
from vahti.watchlist_cache import load_index
from vahti.wiring import load_key, open_db

ROWS_SHOWN = 10


@click.command("search")
@click.option("--file", "path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Identifiers, one per line (default: stdin). Never given as arguments: "
                   "those end up in shell history.")
@click.option("--ref", "refs", multiple=True, metavar="REF",
              help="An enrolled person's ref instead: every sighting and retained page.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
# taken only to refuse it without echoing it (click's own error would repeat the value)
@click.argument("argv_values", nargs=-1, metavar="")
@click.pass_context
def search_command(ctx: click.Context, path: str | None, refs: tuple[str, ...], as_json: bool,
           argv_values: tuple[str, ...]) -> None:
    """Where identifiers (from stdin or --file) or enrolled people (--ref) were seen.

    For each: whether the person is enrolled (ref), every sighting (time,
    source, URL, page content id, fragment score), and pages seen before whose
    retained candidates hold the identifier, enrolled or not. Inputs are named
    by line number, never echoed. Exit 1 when something was seen.
    """
    if argv_values:
        raise VahtiError("identifiers are read from stdin or --file, never from arguments "
                         "(arguments end up in shell history and process lists)")
    cfg = config_of(ctx)
    key = load_key(cfg)
    problems: list[str] = []
    queries: list[Query] = []
    if not refs:
        queries, problems = parse_lines(
            _read_lines(path), key, region=cfg.get("matchers.phone_region"),
            customer_id_pattern=cfg.get("matchers.customer_id_pattern") or None)
        if not queries and not problems:
            raise VahtiError("no identifiers given (one per line on stdin or in --file)")
    with open_db(cfg, key) as storage:
        for ref in refs:
            q = ref_query(storage, ref)
            if q is None:
                raise VahtiError(f"no enrolled person with ref {ref}")
            queries.append(q)
        index = load_index(storage, key, cfg.home)
        started = time.perf_counter()
        # the candidate index's freshness check is part of every search's time
        cand = candidate_index.load(storage, cfg.home)
        answers = search(storage, index, cand, queries)
        seconds = time.perf_counter() - started
    if as_json:
        click.echo(json.dumps({
            "answers": [_as_dict(a) for a in answers], "problems": problems,
            "query_ms": round(seconds * 1000, 3), "retained_keys": cand.n_keys,
        }, indent=2, default=_iso))
    else:
        _print(answers, problems, seconds)
    if any(a.seen for a in answers):
        sys.exit(1)


def _read_lines(path: str | None) -> list[str]:
    try:
        if path and path != "-":
            with open(path, "rb") as f:
                data = f.read()
        else:
            if sys.stdin.isatty():
                click.echo("identifiers, one per line; end with Ctrl-D", err=True)
            data = sys.stdin.buffer.read()
    except OSError as exc:
        raise VahtiError(f"cannot read {path}: {exc.strerror}") from None
    # a wrong encoding must not stop the search: undecodable bytes never validate
    return data.decode("utf-8", errors="replace").splitlines()


def _as_dict(a: Answer) -> dict:
    return {"query": a.label, "types": a.types, "enrolled": a.enrolled, "seen": a.seen,
            "sightings_total": a.sightings_total, "sightings": a.sightings,
            "retained_total": a.retained_total, "retained": a.retained}


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def _print(answers: list[Answer], problems: list[str], seconds: float) -> None:
    out = console()
    for p in problems:
        out.print(p)
    for a in answers:
        who = ", ".join(a.enrolled) if a.enrolled else "not enrolled"
        if not a.seen:
            out.print(f"{a.label} ({'/'.join(a.types)}): {who}; not seen")
            continue
        out.print(f"{a.label} ({'/'.join(a.types)}): {who}; {a.sightings_total} sightings, "
                  f"{a.retained_total} pages in retained candidates")
        if a.sightings:
            table = Table("first seen", "ref", "type", "source", "url", "content id", "score")
            for s in a.sightings[:ROWS_SHOWN]:
                table.add_row(_when(s["first_seen"]), s["ref"], s["id_type"], s["source"],
                              s["url"], s["page_content_id"][:12], f"{s['score']:.2f}")
            out.print(table)
        if a.retained:
            table = Table("last seen", "type", "source", "url", "content id")
            for r in a.retained[:ROWS_SHOWN]:
                table.add_row(_when(r["last_seen"]), r["id_type"], r["source"], r["url"],
                              r["page_content_id"][:12])
            out.print(table)
        hidden = max(a.sightings_total, a.retained_total) - ROWS_SHOWN
        if hidden > 0:
            out.print(f"... {hidden} more (all of them: --json)")
    seen = sum(a.seen for a in answers)
    out.print(f"{seen} of {len(answers)} seen; query {seconds * 1000:.1f} ms")
