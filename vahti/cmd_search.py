"""`vahti search`: is this person exposed, and where — over everything seen so far."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime

import click
from rich.table import Table

from vahti import keyring
from vahti.clictx import config_of, console
from vahti.display import IDENTIFIER_AS_REF, echo, looks_like_identifier, styled
from vahti.errors import VahtiError
from vahti.search import Answer, LineProblem, Query, Reading, parse_lines, ref_query, search
from vahti.storage import candidate_index
from vahti.watchlist_cache import load_index
from vahti.wiring import load_key, open_db

ROWS_SHOWN = 10
PROBLEMS_SHOWN = 20  # invalid lines listed one by one; the count is always given


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
    problems: list[LineProblem] = []
    queries: list[Query] = []
    if not refs:
        queries, problems = parse_lines(
            _read_lines(path), key, region=cfg.get("matchers.phone_region"),
            customer_id_pattern=cfg.get("matchers.customer_id_pattern") or None,
            retired=keyring.retired_key_files(cfg))
        if not queries and not problems:
            raise VahtiError("no identifiers given (one per line on stdin or in --file)")
        if not queries:
            # nothing was looked up: never an exit 0 that reads as "nobody found"
            _print_problems(console(stderr=True), problems)
            raise VahtiError(f"no line of the input is a valid identifier: {len(problems)} "
                             f"lines, e.g. {problems[0]}")
    with open_db(cfg, key) as storage:
        for ref in refs:
            q = ref_query(storage, ref)
            if q is None and looks_like_identifier(ref):
                raise VahtiError(IDENTIFIER_AS_REF)  # never echoed: it may be someone's
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
        echo(json.dumps({
            "answers": [_as_dict(a) for a in answers], "problems": [str(p) for p in problems],
            "invalid_lines": [{"line": p.line, "reason": p.reason} for p in problems],
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
                echo("identifiers, one per line; end with Ctrl-D", err=True)
            data = sys.stdin.buffer.read()
    except OSError as exc:
        raise VahtiError(f"cannot read {path}: {exc.strerror}") from None
    # a wrong encoding must not stop the search: undecodable bytes never validate
    return data.decode("utf-8", errors="replace").splitlines()


def _as_dict(a: Answer) -> dict:
    return {"query": a.label, "types": a.types, "enrolled": a.enrolled, "seen": a.seen,
            "sightings_total": a.sightings_total, "sightings": a.sightings,
            "retained_total": a.retained_total, "retained": a.retained,
            "readings": [_reading_dict(r) for r in a.readings]}


def _reading_dict(r: Reading) -> dict:
    return {"type": r.id_type, "enrolled": r.enrolled, "seen": r.seen,
            "sightings_total": r.sightings_total, "sightings": r.sightings,
            "retained_total": r.retained_total, "retained": r.retained}


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def _print(answers: list[Answer], problems: list[LineProblem], seconds: float) -> None:
    out = console()
    _print_problems(out, problems)
    for a in answers:
        if len(a.readings) > 1:
            # one line, several types: each reading answered on its own
            out.print(f"{a.label} reads as {len(a.readings)} types, each looked up: "
                      f"{', '.join(a.types)}")
            for r in a.readings:
                _print_found(out, f"  as {r.id_type}", r)
        else:
            _print_found(out, f"{a.label} ({'/'.join(a.types)})", a)
    seen = sum(a.seen for a in answers)
    unsearched = ""
    if problems:
        lines = ", ".join(str(p.line) for p in problems[:5])
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        unsearched = (f"{len(problems)} line{'s' if len(problems) > 1 else ''} NOT SEARCHED "
                      f"(not a valid identifier: line{'s' if len(problems) > 1 else ''} "
                      f"{lines}{more}); ")
    out.print(f"{seen} of {len(answers)} seen; {unsearched}query {seconds * 1000:.1f} ms")


def _print_problems(out, problems: list[LineProblem]) -> None:
    if not problems:
        return
    out.print(styled(f"NOT SEARCHED: {len(problems)} line{'s' if len(problems) > 1 else ''} "
                     f"read as no valid identifier", "bold"))
    for p in problems[:PROBLEMS_SHOWN]:
        out.print(f"  {p}")
    if len(problems) > PROBLEMS_SHOWN:
        out.print(f"  ... {len(problems) - PROBLEMS_SHOWN} more (all of them: --json)")


def _print_found(out, label: str, a: Answer | Reading) -> None:
    who = ", ".join(a.enrolled) if a.enrolled else "not enrolled"
    if not a.seen:
        out.print(f"{label}: {who}; not seen")
        return
    out.print(f"{label}: {who}; {a.sightings_total} sightings, "
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
