"""`vahti scan`: look for the enrolled people in local dumps, files and archives."""

from __future__ import annotations

import gc
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vahti.clictx import config_of, console
from vahti.config import Config
from vahti.display import echo, shown_location
from vahti.errors import VahtiError
from vahti.matchers.archives import ArchiveLimits
from vahti.matchers.binary_strings import KIND as STRINGS_ONLY
from vahti.matchers.engine import Finding, FindingColumns, Scanned, ScanOptions
from vahti.matchers.keys import secret_file_problem
from vahti.matchers.lazy import lazy_module
from vahti.matchers.locations import LocationRedactor
from vahti.matchers.scanfiles import scan_files
from vahti.matchers.skips import SkipTally, skip_reason, summary
from vahti.scan_output import FindingLines
from vahti.scan_start import DatabaseCheck, scan_key
from vahti.share import SHARE_HELP, ShareList
from vahti.watchlist_cache import enrolled_index
from vahti.wiring import location_redactor, open_db

if TYPE_CHECKING:  # rich: imported when a bar or a table is shown, not for --json
    from rich.progress import Progress

    from vahti.matchers.index import WatchlistIndex
    from vahti.matchers.keys import Key
    from vahti.storage import candidates, pages, runs, sightings, watchlist
    from vahti.storage.connection import Storage
else:  # pymongo comes with these: loaded when the database is used, which `--no-store`
    # leaves to a second process (vahti.scan_start) when the index is cached
    candidates = lazy_module("vahti.storage.candidates")
    pages = lazy_module("vahti.storage.pages")
    runs = lazy_module("vahti.storage.runs")
    sightings = lazy_module("vahti.storage.sightings")
    watchlist = lazy_module("vahti.storage.watchlist")

TABLE_ROWS = 200
STORE_EVERY = 200  # pages per database round trip


@dataclass
class ScanTally:
    findings: int = 0
    people: set[str] = field(default_factory=set)
    locations: set[str] = field(default_factory=set)
    inputs: int = 0
    read: int = 0  # inputs whose text was scanned (not binary)
    bytes: int = 0
    skips: SkipTally = field(default_factory=SkipTally)
    new_sightings: int = 0

    @property
    def skipped(self) -> Counter:
        """Skipped inputs by reason kind."""
        return self.skips.by_kind

    def nothing_read(self, paths: tuple[str, ...]) -> str | None:
        """Why the command must not exit as if it had looked: nothing was read."""
        if self.read:
            return None
        if self.skips.count:
            return f"nothing could be read: {summary(self.skipped)}"
        return "nothing could be read: no files in " + ", ".join(paths)

    def run_stats(self) -> runs.RunStats:
        return runs.RunStats(pages=self.inputs, bytes=self.bytes, hits=self.findings,
                             new_sightings=self.new_sightings, errors=dict(self.skipped),
                             read=self.read, skipped=dict(self.skipped))

    def summary_json(self) -> dict:
        """The `--json` summary object: what was read, and every input that was not."""
        return {"inputs": self.inputs, "read": self.read, "bytes": self.bytes,
                "findings": self.findings, "skipped": {
                    "count": self.skips.count, "by_reason": dict(sorted(self.skipped.items())),
                    "inputs": [{"location": loc, "reason": reason}
                               for loc, reason in self.skips.inputs]}}


def stored_url(location: str, content_id: str, redactor: LocationRedactor) -> str:
    """The page URL a local input is stored under: absolute, so reruns match, and with
    any identifier in a directory, file or member name replaced by its keyed token."""
    if location.startswith("<stdin>"):  # the content id is no name: only the members are
        return f"stdin:{content_id}" + redactor.redact(location[len("<stdin>"):])
    path, sep, member = location.partition("!")
    return redactor.redact("file://" + os.path.abspath(path) + sep + member)


class SightingWriter:
    """Buffers one input's findings until its `Scanned` event gives the page's content id."""

    def __init__(self, storage: Storage, source: str, tally: ScanTally,
                 redactor: LocationRedactor) -> None:
        self.storage = storage
        self.source = source
        self.tally = tally
        self.redactor = redactor
        self.version = watchlist.version(storage)
        self.open: dict[str, list[Finding]] = {}
        self.pages: list[pages.PageRecord] = []
        self.sightings: list[sightings.Sighting] = []
        self.kept: list[candidates.CandidateSet] = []

    def finding(self, f: Finding) -> None:
        self.open.setdefault(f.location, []).append(f)

    def scanned(self, s: Scanned) -> None:
        found = self.open.pop(s.location, [])
        url = self.stored_url(s)
        hit_counts = Counter(f.id_type for f in found)
        self.pages.append(pages.PageRecord(
            url=url, source=self.source, content_id=s.content_id, size=s.size, status=s.status,
            hit_counts=dict(hit_counts), watchlist_version=self.version,
        ))
        self.sightings += [
            sightings.Sighting(page_url=url, source=self.source, ref=f.ref, id_type=f.id_type,
                               kind=f.kind, start=f.start, end=f.end, score=f.score,
                               page_content_id=s.content_id)
            for f in found
        ]
        if s.retained is not None and s.status in ("ok", "strings"):
            self.kept.append(candidates.CandidateSet(s.content_id, s.retained, s.partial))
        if len(self.pages) >= STORE_EVERY:
            self.flush()

    def stored_url(self, s: Scanned) -> str:
        return stored_url(s.location, s.content_id, self.redactor)

    def flush(self) -> None:
        # candidates and sightings before pages: a page marked as scanned has them all
        candidates.store(self.storage, self.kept)
        self.kept = []
        self.tally.new_sightings += len(sightings.record_sightings(self.storage, self.sightings))
        pages.upsert_pages(self.storage, self.pages)
        self.pages, self.sightings = [], []


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per finding, one a line.")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes that scan: this one and JOBS - 1 workers.")
@click.option("--types", help="Comma-separated identifier types (and 'fragment') to look for.")
@click.option("--no-store", is_flag=True, help="Do not record sightings in the database.")
@click.option("--retain", is_flag=True,
              help="Also keep the keyed candidates of every identifier and the fingerprints "
                   "of the text, enrolled or not, for later searches and retro-hunts (slower: "
                   "every type is detected).")
@click.option("--source", default="local", show_default=True,
              help="Source name the sightings are recorded under.")
@click.option("--password-file", type=click.Path(dir_okay=False),
              help="Passwords for encrypted zip, 7z and PDF files, one a line, tried in "
                   "order (the file must be mode 0600).")
@click.option("--share-sha256", "share_sha256", is_flag=True, help=SHARE_HELP)
@click.pass_context
def scan(ctx: click.Context, paths: tuple[str, ...], as_json: bool, jobs: int,
         types: str | None, no_store: bool, retain: bool, source: str,
         password_file: str | None, share_sha256: bool) -> None:
    """Scan files, directories (recursively), archives or - (stdin).

    SQLite databases, PDF and Office files are read as their text. Every input that
    cannot be read is reported with its reason.
    Exit 0 when nobody was found, 1 when someone was, 2 on error or when nothing
    could be read.
    """
    cfg = config_of(ctx)
    key = scan_key(ctx.meta, cfg)
    check = DatabaseCheck.of(ctx.meta) if no_store else None  # vahti.scan_start
    limits = archive_limits(cfg, password_file)
    redactor = LocationRedactor(key)  # for the path check; the watchlist-aware one below
    for path in paths:
        if path != "-" and not os.path.exists(path):
            raise VahtiError(f"no such file or directory: {shown_location(path, redactor)}")
    wanted = frozenset(t.strip() for t in types.split(",") if t.strip()) if types else None
    options = ScanOptions(
        types=wanted,
        region=cfg.get("matchers.phone_region"),
        customer_id_pattern=cfg.get("matchers.customer_id_pattern") or None,
        retain=retain and not no_store,
    )
    tally = ScanTally()
    shown: list[Finding] = []
    found: list[Finding] = []  # findings not yet handled (`_handle_findings`)
    lines = FindingLines() if as_json else None
    share = ShareList() if share_sha256 else None
    with _database(cfg, key, check) as (storage, index):
        redactor = location_redactor(cfg, key, index)  # enrolled phones and names too
        run_id, writer = "", None
        if not no_store:
            assert storage is not None  # only --no-store goes without the database
            run_id = runs.start_run(storage, source, "scan")
            writer = SightingWriter(storage, source, tally, redactor)
        state = "done"
        try:
            # What exists now (modules, the index, caches) lives as long as the command:
            # out of the collector's way, a dump's million short-lived objects cost less.
            gc.freeze()
            with ProgressBar(paths, quiet=as_json) as advance:
                events = scan_files(list(paths), index, key, options, jobs=jobs,
                                    limits=limits, progress=advance, columns=as_json)
                for event in events:
                    if type(event) is FindingColumns:  # --json: a task's findings
                        assert lines is not None
                        _handle_findings(found, tally, writer, redactor, shown, lines)
                        _handle_columns(event, tally, writer, redactor, lines)
                        continue
                    if type(event) is Finding:  # most events: one a row of a dump
                        found.append(event)
                        if len(found) >= FINDINGS_BATCH:
                            _handle_findings(found, tally, writer, redactor, shown, lines)
                        continue
                    _handle_findings(found, tally, writer, redactor, shown, lines)
                    _handle(event, tally, writer, redactor, shown, lines)
                    if share is not None and isinstance(event, Scanned):
                        share.add(stored_url(event.location, event.content_id, redactor),
                                  event.size, event.shareable_sha256)
            if tally.nothing_read(paths):
                state = "failed"
        except ValueError as exc:  # e.g. an unknown --types name
            state = "failed"
            raise VahtiError(str(exc)) from None
        except BaseException:
            state = "interrupted"
            raise
        finally:
            try:
                # findings handed over before an interruption are stored and printed
                _handle_findings(found, tally, writer, redactor, shown, lines)
                if writer is not None:
                    writer.flush()
                    runs.finish_run(writer.storage, run_id, tally.run_stats(), state=state)
            finally:  # after the writes: a closed stdout must not cost the stored findings
                gc.unfreeze()  # (a command run in process, e.g. by a test, leaves no trace)
                if lines is not None:
                    lines.close()
    if as_json and tally.skips.count:
        echo(json.dumps({"summary": tally.summary_json()}, sort_keys=True))
    nothing = tally.nothing_read(paths)
    if nothing:
        raise VahtiError(nothing)
    if not as_json:
        _print_table(shown, tally, stored=not no_store)
    if share is not None:
        if as_json:
            echo(json.dumps({"kind": "share_sha256", **share.to_dict()}, sort_keys=True))
        else:
            for line in share.lines():
                echo(line)
    sys.exit(1 if tally.findings else 0)


@contextmanager
def _database(cfg: Config, key: Key, check: DatabaseCheck | None
              ) -> Iterator[tuple[Storage | None, WatchlistIndex]]:
    """The open database and the enrolled index; with a check (`--no-store`), the index
    it named and no database (None), unless it named none."""
    index = check.index(key) if check is not None else None
    if index is not None:
        yield None, index
        return
    with open_db(cfg, key) as storage:
        yield storage, enrolled_index(storage, key, cfg.home)


def archive_limits(cfg: Config, password_file: str | None) -> ArchiveLimits:
    """The [scan] limits, and the passwords of --password-file (refused unless 0600)."""
    return ArchiveLimits(max_members=cfg.get("scan.max_members"),
                         document_timeout_s=cfg.get("scan.document_timeout_s"),
                         passwords=read_password_file(password_file))


def read_password_file(path: str | None) -> tuple[str, ...]:
    """One password a line, in order; blank lines ignored. Never echoed."""
    if path is None:
        return ()
    problem = secret_file_problem(Path(path))
    if problem:
        raise VahtiError(f"--password-file: {problem}")
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise VahtiError(f"--password-file {path}: cannot be read ({type(exc).__name__})"
                         ) from None
    return tuple(line for line in lines if line)


# Findings are handled in batches of up to this many (a dense dump has one a row).
FINDINGS_BATCH = 4096


def _handle_findings(found: list[Finding], tally: ScanTally, writer: SightingWriter | None,
                     redactor: LocationRedactor, shown: list[Finding],
                     lines: FindingLines | None) -> None:
    """Store, count and print the findings in `found` (in order), and empty it. Emptied
    first and handed to the writer first: a failure printing (a closed stdout) neither
    hands a finding over twice nor keeps one from the writer."""
    if not found:
        return
    batch = found[:]
    found.clear()
    record_findings(batch, tally, writer)
    # printed with their locations as stored: identifiers in names as keyed tokens
    if lines is not None:
        lines.add_all(batch, redactor.redact)
    else:
        for f in batch[: max(0, TABLE_ROWS - len(shown))]:
            shown.append(replace(f, location=redactor.redact(f.location)))


def _handle_columns(found: FindingColumns, tally: ScanTally, writer: SightingWriter | None,
                    redactor: LocationRedactor, lines: FindingLines) -> None:
    """`_handle_findings` for `--json` findings as columns: no object made unless stored."""
    record_findings(found, tally, writer)
    lines.add_columns(found, redactor.redact(found.location))


def _handle(event, tally: ScanTally, writer: SightingWriter | None,  # noqa: ANN001
            redactor: LocationRedactor, shown: list[Finding],
            lines: FindingLines | None) -> None:
    """A scan event other than a finding (see `_handle_findings`)."""
    if lines is not None and skip_reason(event):
        lines.flush()  # the lines so far before the "skipped" line on stderr
    record_event(event, tally, writer, redactor)
    if lines is not None:
        lines.flush()  # an input is done (and handed to the writer first): its lines out


def record_findings(found: list[Finding] | FindingColumns, tally: ScanTally,
                    writer: SightingWriter | None) -> None:
    """Hand findings to the writer (when storing), then count them."""
    if writer is not None:
        for f in found.findings() if isinstance(found, FindingColumns) else found:
            writer.finding(f)
    tally.findings += len(found)
    if isinstance(found, FindingColumns):
        tally.people.update(found.refs)
        tally.locations.add(found.location)
    else:
        tally.people.update([f.ref for f in found])
        tally.locations.update([f.location for f in found])


def record_event(event, tally: ScanTally, writer: SightingWriter | None,  # noqa: ANN001
                 redactor: LocationRedactor) -> None:
    """Count a scan event, hand it to the writer (when storing), report a skipped input
    (its location as stored, see `_handle`)."""
    if type(event) is Finding:
        record_findings([event], tally, writer)
        return  # a finding is no skip
    if isinstance(event, Scanned):
        tally.inputs += 1
        tally.bytes += event.size
        if writer is not None:
            writer.scanned(event)
    reason = skip_reason(event)
    if reason is not None:
        if not isinstance(event, Scanned) and event.location in tally.locations:
            # a read that failed after findings (a Scanned input was counted above)
            tally.inputs += 1
        tally.skips.add(redactor.redact(event.location), reason)
        echo(f"vahti: skipped {shown_location(event.location, redactor)}: {reason}", err=True)
    elif isinstance(event, Scanned):
        tally.read += 1


class ProgressBar:
    """A progress bar over the input bytes on stderr, for people at a terminal."""

    def __init__(self, paths: tuple[str, ...], quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self.total = _input_bytes(paths) if self.enabled else 0
        self.bar: Progress | None = None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        self.bar = Progress("scanning", BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                            console=console(stderr=True), transient=True)
        self.bar.start()
        task = self.bar.add_task("scan", total=self.total or None)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def _input_bytes(paths: tuple[str, ...]) -> int:
    total = 0
    for path in paths:
        if os.path.isfile(path):
            total += os.path.getsize(path)
        elif os.path.isdir(path):
            for root, _, files in os.walk(path):
                total += sum(os.path.getsize(os.path.join(root, f)) for f in files
                             if os.path.isfile(os.path.join(root, f)))
    return total


def _print_table(shown: list[Finding], tally: ScanTally, stored: bool) -> None:
    from rich.table import Table

    out = console()
    if shown:
        table = Table("location", "type", "ref", "offset", "score")
        for f in shown:
            table.add_row(f.location, f.id_type, f.ref, f"{f.start}-{f.end}", f"{f.score:.2f}")
        out.print(table)
        if tally.findings > len(shown):
            out.print(f"... {tally.findings - len(shown)} more findings (all of them: --json)")
    skipped = sum(tally.skipped.values())
    out.print(
        f"{tally.findings} findings of {len(tally.people)} enrolled people in "
        f"{len(tally.locations)} of {tally.inputs} inputs ({tally.bytes / 1e6:.1f} MB)"
        + (f"; {skipped} skipped" if skipped else "")
        + (f"; {tally.new_sightings} new sightings stored" if stored else "; not stored")
    )
    print_not_read(tally.skipped)


def print_not_read(skipped: Counter) -> None:
    """The line that keeps skipped inputs from passing unnoticed (each one is on stderr)."""
    if sum(skipped.values()):
        partly = " (where a read failed, nothing after it)" if "read failed" in skipped else ""
        if STRINGS_ONLY in skipped:
            partly += f" but the text strings of the {STRINGS_ONLY} ones"
        console().print(f"NOT READ: {summary(skipped)}; nothing in them was looked at{partly} "
                        "(the 'skipped' lines say where and why)", style="bold")
