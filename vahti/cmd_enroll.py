"""`vahti enroll` and `vahti watchlist stats`."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import click
import numpy as np
from rich.table import Table

from vahti import keyring, retrohunt
from vahti.clictx import config_of, console
from vahti.display import echo
from vahti.errors import VahtiError
from vahti.matchers.index import IndexBuilder, WatchlistIndex
from vahti.matchers.keys import Key
from vahti.matchers.register import EnrolledPerson, RegisterError, RegisterSummary, read_register
from vahti.storage import watchlist
from vahti.storage.watchlist import WatchlistEntry
from vahti.watchlist_cache import load_index, repaired_forget, without_common_fingerprints
from vahti.wiring import load_key, open_db

log = logging.getLogger("vahti.enroll")
PROBLEMS_SHOWN = 50
COLUMNS_SHOWN = 20


def column_options(command):  # noqa: ANN001, ANN201 - a click decorator
    """The register column options, shared by `vahti enroll` and `vahti key rotate`."""
    return click.option(
        "--map", "mappings", multiple=True, metavar="COLUMN=TYPE",
        help="Read the header column COLUMN as TYPE (hetu, email, phone, notes, ..., "
             "or ignore); repeatable.")(command)


def read_register_bytes(register: str) -> bytes:
    """The register's bytes: a file, or stdin for "-"."""
    try:
        return sys.stdin.buffer.read() if register == "-" else Path(register).read_bytes()
    except OSError as exc:
        raise VahtiError(f"cannot read {register}: {exc.strerror}") from None


def register_people(cfg, data: bytes, register: str, key: Key,  # noqa: ANN001
                    column_map: dict[str, str], summary: RegisterSummary
                    ) -> Iterator[EnrolledPerson]:
    """The register's people keyed under `key`, as `vahti enroll` reads them."""
    return read_register(
        data, key, summary,
        phone_region=cfg.get("matchers.phone_region"),
        customer_id_pattern=cfg.get("matchers.customer_id_pattern"),
        name=Path(register).name,
        column_map=column_map,
    )


@click.command()
@click.argument("register", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--replace", is_flag=True,
              help="Make the watchlist exactly this register: people not in it are removed.")
@click.option("--strict", is_flag=True, help="Exit 2 when any row has a problem.")
@column_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.pass_context
def enroll(ctx: click.Context, register: str, replace: bool, strict: bool,
           mappings: tuple[str, ...], as_json: bool) -> None:
    """Enroll a register (CSV with a header and a `ref` column).

    Only keyed digests and fingerprints are stored. Bad values are reported by
    row and column, never by value; the other rows are still enrolled. Header
    names in Finnish, Swedish, Norwegian, Danish and English are recognised
    (henkilötunnus, sähköposti, personnummer, fødselsnummer, cpr-nummer, ...).
    """
    cfg = config_of(ctx)
    column_map = column_map_of(mappings)
    key = load_key(cfg)
    data = read_register_bytes(register)
    summary = RegisterSummary()
    refs_in_file: set[str] = set()
    entries = watchlist_entries(register_people(cfg, data, register, key, column_map, summary),
                                key, refs_in_file)

    with open_db(cfg, key) as storage:
        # an enrolment killed half-way left its mark: its writes stay, the index rebuilds
        repaired = watchlist.repair_interrupted(storage)
        try:
            result = watchlist.upsert_entries(storage, entries)
        except RegisterError as exc:
            raise VahtiError(str(exc)) from None
        if not summary.enrolled:
            _refuse_nobody(summary, as_json)
        removed = 0
        if replace:
            # people whose row had a problem stay: a typo must not drop protection
            keep = refs_in_file | summary.refs_with_problems
            removed = watchlist.remove_refs_except(storage, keep)
        version = watchlist.version(storage)
        # due also after a repair: the interrupted run's people were never retro-hunted
        exposed = _retro_hunt(storage, key, cfg) if retrohunt.due(storage) else None
        # what was retained before a key rotation is under the retired key: the register
        # keyed under that key finds its people there (vahti never keeps the plaintext)
        for old in keyring.retired_keys(cfg, storage):
            people = register_people(cfg, data, register, old, column_map, RegisterSummary())
            found = retrohunt.retro_hunt(storage, index_of(people, old), cfg.home,
                                         record_done=False)
            exposed = found if exposed is None else exposed.merged(found)

    _print_problems(summary)
    report = {
        "rows": summary.rows,
        "enrolled": summary.enrolled,
        "inserted": result.inserted,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "removed": removed,
        "rows_with_problems": summary.rows_with_problems,
        "rows_skipped": summary.rows_skipped,
        "values": summary.values,
        "problems": _problem_dicts(summary),
        "unknown_columns": summary.unknown_columns,
        "ignored_columns": summary.ignored_columns,
        "columns": summary.columns,
        # people whose notes give too few fingerprints to ever be a fragment match
        "notes_too_short": summary.notes_too_short,
        "notes_min_words": summary.notes_min_words,
        "watchlist_version": version,
        # enrolments killed half-way before this one, whose marks this one removed
        "interrupted_repaired": [
            {"started": w.started.isoformat(), "host": w.host, "what": w.what}
            for w in repaired
        ],
        # people found in pages seen before (retained candidates), by this enrolment
        "already_exposed": len(exposed.people) if exposed else 0,
        "already_exposed_pages": len(exposed.pages) if exposed else 0,
    }
    if as_json:
        echo(json.dumps(report, indent=2))
    else:
        _print_summary(report)
    if strict and summary.problems:
        sys.exit(2)


def _print_summary(report: dict) -> None:
    out = console()
    _print_problem_lines(out, report["problems"])
    per_type = ", ".join(f"{t} {n}" for t, n in sorted(report["values"].items())) or "none"
    out.print(
        f"enrolled {report['enrolled']} of {report['rows']} rows: {report['inserted']} new, "
        f"{report['updated']} updated, {report['unchanged']} unchanged"
        + (f", {report['removed']} removed" if report["removed"] else "")
    )
    out.print(f"people per type: {per_type}")
    for write in report["interrupted_repaired"]:
        if write["what"] == watchlist.FORGET:
            out.print(repaired_forget(write["started"][:16], write["host"]))
            continue
        out.print(f"repaired: the enrolment started {write['started'][:16]} on {write['host']} "
                  "was interrupted before it finished; the people it wrote are kept (counted "
                  "above as unchanged when this register holds them alike) and every cached "
                  "index is rebuilt")
    if report["notes_too_short"]:
        out.print(f"notes: {report['notes_too_short']} people's notes are too short to ever "
                  f"match as fragments (need at least {report['notes_min_words']} words)")
    if report["already_exposed"]:
        out.print(f"already exposed: {report['already_exposed']} people, on "
                  f"{report['already_exposed_pages']} pages seen before (vahti search --ref REF)")
    if report["problems"]:
        out.print(f"{len(report['problems'])} problems in {report['rows_with_problems']} rows; "
                  f"{report['rows_skipped']} rows not enrolled")


def watchlist_entries(people: Iterable[EnrolledPerson], key: Key, refs: set[str]
                      ) -> Iterator[WatchlistEntry]:
    """The people as watchlist entries under `key`; their refs are added to `refs`."""
    for person in people:
        refs.add(person.ref)
        yield WatchlistEntry(
            ref=person.ref, key_id=key.key_id, digests=person.digests,
            corroborating=person.corroborating, fingerprints=person.fingerprint_bytes,
            readings=person.readings,
        )


def index_of(people: Iterable[EnrolledPerson], key: Key) -> WatchlistIndex:
    """An in-memory watchlist index of these people (keyed under `key`)."""
    builder = IndexBuilder(key)
    for person in people:
        builder.add(person.ref, person.digests, person.corroborating,
                    person.fingerprints if len(person.fingerprints) else None)
    index = builder.build()
    index.fragments = without_common_fingerprints(index.fragments)
    return index


def column_map_of(mappings: tuple[str, ...]) -> dict[str, str]:
    column_map = {}
    for mapping in mappings:
        column, _, id_type = mapping.rpartition("=")
        if not column.strip() or not id_type.strip():
            raise VahtiError(f"--map {mapping}: expected COLUMN=TYPE, e.g. --map Tunnus=hetu")
        column_map[column.strip()] = id_type.strip().lower()
    return column_map


def _print_problems(summary: RegisterSummary) -> None:
    """Columns left out and row problems, to the log (and stderr): names, never values."""
    for what, names in (("unknown columns ignored", summary.unknown_columns),
                        ("columns ignored (--map)", summary.ignored_columns)):
        if names:
            more = len(names) - COLUMNS_SHOWN
            log.warning("%s: %s%s", what, ", ".join(names[:COLUMNS_SHOWN]),
                        f" and {more} more" if more > 0 else "")
    for problem in summary.problems:
        log.info("enroll: %s", problem)


def _problem_dicts(summary: RegisterSummary) -> list[dict]:
    return [{"row": p.row, "column": p.column, "reason": p.reason} for p in summary.problems]


def _print_problem_lines(out, problems: list[dict]) -> None:  # noqa: ANN001
    # header names come from the register: the console prints them literally (display)
    for problem in problems[:PROBLEMS_SHOWN]:
        out.print(f"row {problem['row']}, column {problem['column']}: {problem['reason']}")
    hidden = len(problems) - PROBLEMS_SHOWN
    if hidden > 0:
        out.print(f"... and {hidden} more problems (all of them: --json, or the log)")


def _refuse_nobody(summary: RegisterSummary, as_json: bool) -> None:
    """Enrolling 0 people is never a success: the reason, the problems, exit 2."""
    reason = _nobody_enrolled(summary)
    _print_problems(summary)
    if as_json:
        echo(json.dumps({"error": reason, "rows": summary.rows, "enrolled": 0,
                               "columns": summary.columns,
                               "unknown_columns": summary.unknown_columns,
                               "problems": _problem_dicts(summary)}, indent=2))
    else:
        _print_problem_lines(console(stderr=True), _problem_dicts(summary))
    raise VahtiError(reason)


def _nobody_enrolled(summary: RegisterSummary) -> str:
    """Why a register gave nobody: enrolling 0 people is never a success."""
    columns = ", ".join(f"{name} ({id_type})" for name, id_type in summary.columns.items())
    if not summary.rows:
        return f"nobody enrolled: the register has no rows under its header (columns: {columns})"
    return (f"nobody enrolled: none of the {summary.rows} rows could be enrolled "
            f"({len(summary.problems)} problems, by row and column above and in the log; "
            f"columns read: {columns})")


@click.group("watchlist")
def watchlist_group() -> None:
    """The enrolled people (digests only)."""


@watchlist_group.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def watchlist_stats(ctx: click.Context, as_json: bool) -> None:
    """People enrolled and digests per identifier type."""
    cfg = config_of(ctx)
    key = load_key(cfg)
    with open_db(cfg, key) as storage:
        index = load_index(storage, key, cfg.home)
        version = watchlist.version(storage)
    stats = {
        "people": index.n_people,
        "watchlist_version": version,
        "key_id": key.key_id,
        # people with at least one value of the type (a name has several forms)
        "identifiers": {
            t: int(len(np.unique(people))) for t, (_, people) in sorted(index.ids.items())
        },
        "corroborating": {
            t: int(np.count_nonzero(np.diff(ptr)))
            for t, (ptr, _) in sorted(index.corroborating.items())
        },
        "records_with_notes": index.fragments.n_records,
        "fingerprints": int(len(index.fragments.fp_sorted)),
    }
    if as_json:
        echo(json.dumps(stats, indent=2))
        return
    table = Table("what", "people")
    table.add_row("enrolled", str(stats["people"]))
    for t, n in stats["identifiers"].items():
        table.add_row(f"with {t}", str(n))
    for t, n in stats["corroborating"].items():
        table.add_row(f"with {t} (corroborating)", str(n))
    table.add_row("with notes", str(stats["records_with_notes"]))
    table.add_row("note fingerprints (total)", str(stats["fingerprints"]))
    console().print(table)


def _retro_hunt(storage, key, cfg):  # noqa: ANN001, ANN202
    """The new watchlist against every page seen before (see vahti/retrohunt.py)."""
    index = load_index(storage, key, cfg.home)
    return retrohunt.retro_hunt(storage, index, cfg.home)
