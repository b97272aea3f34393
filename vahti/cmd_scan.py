"""`vahti scan`: look for the enrolled people in local dumps, files and archives."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

from matchers.engine import Finding, Scanned, ScanOptions, Skipped
from matchers.locations import LocationRedactor
from matchers.scanfiles import scan_files
from storage import candidates, pages, runs, sightings, watchlist
from storage.connection import Storage
from vahti.clictx import config_of, console
from vahti.errors import VahtiError
from vahti.share import SHARE_HELP, ShareList
from vahti.watchlist_cache import enrolled_index
from vahti.wiring import load_key, open_db

TABLE_ROWS = 200
STORE_EVERY = 200  # pages per database round trip


@dataclass
class ScanTally:
    findings: int = 0
    people: set[str] = field(default_factory=set)
    locations: set[str] = field(default_factory=set)
    inputs: int = 0
    bytes: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason kind -> count
    new_sightings: int = 0


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
        if s.retained is not None and s.status == "ok":
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
              help="Worker processes.")
@click.option("--types", help="Comma-separated identifier types (and 'fragment') to look for.")
@click.option("--no-store", is_flag=True, help="Do not record sightings in the database.")
@click.option("--retain", is_flag=True,
              help="Also keep the keyed candidates of every identifier and the fingerprints "
                   "of the text, enrolled or not, for later searches and retro-hunts (slower: "
                   "every type is detected).")
@click.option("--source", default="local", show_default=True,
              help="Source name the sightings are recorded under.")
@click.option("--share-sha256", "share_sha256", is_flag=True, help=SHARE_HELP)
@click.pass_context
def scan(ctx: click.Context, paths: tuple[str, ...], as_json: bool, jobs: int,
         types: str | None, no_store: bool, retain: bool, source: str,
         share_sha256: bool) -> None:
    """Scan files, directories (recursively), archives or - (stdin).

    Exit 0 when nobody was found, 1 when someone was, 2 on error.
    """
    cfg = config_of(ctx)
    key = load_key(cfg)
    for path in paths:
        if path != "-" and not os.path.exists(path):
            raise VahtiError(f"no such file or directory: {path}")
    wanted = frozenset(t.strip() for t in types.split(",") if t.strip()) if types else None
    options = ScanOptions(
        types=wanted,
        region=cfg.get("matchers.phone_region"),
        customer_id_pattern=cfg.get("matchers.customer_id_pattern") or None,
        retain=retain and not no_store,
    )
    tally = ScanTally()
    shown: list[Finding] = []
    share = ShareList() if share_sha256 else None
    redactor = LocationRedactor(key)
    with open_db(cfg, key) as storage:
        index = enrolled_index(storage, key, cfg.home)
        run_id = "" if no_store else runs.start_run(storage, source, "scan")
        writer = None if no_store else SightingWriter(storage, source, tally, redactor)
        state = "done"
        try:
            with ProgressBar(paths, quiet=as_json) as advance:
                events = scan_files(list(paths), index, key, options, jobs=jobs, progress=advance)
                for event in events:
                    _handle(event, tally, writer, shown, as_json)
                    if share is not None and isinstance(event, Scanned):
                        share.add(stored_url(event.location, event.content_id, redactor),
                                  event.size, event.shareable_sha256)
        except ValueError as exc:  # e.g. an unknown --types name
            state = "failed"
            raise VahtiError(str(exc)) from None
        except BaseException:
            state = "interrupted"
            raise
        finally:
            if writer is not None:
                writer.flush()
                runs.finish_run(storage, run_id, runs.RunStats(
                    pages=tally.inputs, bytes=tally.bytes, hits=tally.findings,
                    new_sightings=tally.new_sightings, errors=dict(tally.skipped),
                ), state=state)
    if not as_json:
        _print_table(shown, tally, stored=not no_store)
    if share is not None:
        if as_json:
            click.echo(json.dumps({"kind": "share_sha256", **share.to_dict()}, sort_keys=True))
        else:
            for line in share.lines():
                click.echo(line)
    sys.exit(1 if tally.findings else 0)


def _handle(event, tally: ScanTally, writer: SightingWriter | None, shown: list[Finding],
            as_json: bool) -> None:
    record_event(event, tally, writer)
    if isinstance(event, Finding):
        if as_json:
            click.echo(json.dumps(asdict(event), sort_keys=True))
        elif len(shown) < TABLE_ROWS:
            shown.append(event)


def record_event(event, tally: ScanTally, writer: SightingWriter | None) -> None:  # noqa: ANN001
    """Count a scan event, hand it to the writer (when storing), report a skipped input."""
    if isinstance(event, Finding):
        tally.findings += 1
        tally.people.add(event.ref)
        tally.locations.add(event.location)
        if writer is not None:
            writer.finding(event)
    elif isinstance(event, Scanned):
        tally.inputs += 1
        tally.bytes += event.size
        if writer is not None:
            writer.scanned(event)
    elif isinstance(event, Skipped):
        tally.skipped[event.reason.split(":", 1)[0]] += 1
        click.echo(f"vahti: skipped {event.location}: {event.reason}", err=True)


class ProgressBar:
    """A progress bar over the input bytes on stderr, for people at a terminal."""

    def __init__(self, paths: tuple[str, ...], quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self.total = _input_bytes(paths) if self.enabled else 0
        self.bar: Progress | None = None

    def __enter__(self):
        if not self.enabled:
            return None
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
