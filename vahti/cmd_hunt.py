"""`vahti hunt URL|PATH`: "a new dump was just posted, are our people in it?"

A URL is fetched now, through Tor, as an ad hoc source of kind `url` (not written
to sources.toml; `--direct` only when given) by the same crawl machinery as
`vahti crawl`: fail closed when Tor is not usable. A path (file, directory,
archive, or - for stdin) is read with `vahti scan`'s machinery. Either way the
page records and sightings are stored, and the findings printed per person ref:
identifier types and counts, best score, location and the page's keyed content
id. Never an identifier value: vahti does not have them; never a plain hash of the
content, except on request (`--share-sha256`, printed only, inputs of 1 MiB or more).

Exit 1 when an enrolled person was found, 0 when nobody was, 2 on error
(Tor not usable, the URL could not be fetched, an unreadable path).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field

import click
from rich.table import Table
from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from vahti.clictx import config_of, console
from vahti.cmd_scan import (
    ProgressBar,
    ScanTally,
    SightingWriter,
    archive_limits,
    print_not_read,
    record_event,
)
from vahti.config import Config
from vahti.display import echo, shown_location
from vahti.errors import VahtiError
from vahti.matchers.engine import Finding, Scanned, ScanOptions
from vahti.matchers.locations import LocationRedactor
from vahti.matchers.scanfiles import scan_files
from vahti.matchers.skips import summary
from vahti.share import SHARE_HELP, ShareList
from vahti.spiders import settings as project_settings
from vahti.spiders.adhoc import (
    EXTENSION,
    HUNT_SOURCE,
    SHARE_SETTING,
    AdHocServices,
    adhoc_spider_class,
    hunt_source,
)
from vahti.spiders.commands.crawl import FAILED_REASONS
from vahti.spiders.sources import SourcesError
from vahti.storage import pages, runs, sightings
from vahti.watchlist_cache import enrolled_index
from vahti.wiring import load_key, location_redactor, open_db

TABLE_ROWS = 200


@dataclass
class Place:
    """One person's findings in one location (a page, file or archive member)."""

    location: str  # as shown: identifiers in it as keyed tokens
    url: str  # as stored in pages/sightings
    content_id: str = ""
    types: Counter = field(default_factory=Counter)  # id_type -> findings
    best_score: float = 0.0

    def add(self, id_type: str, score: float) -> None:
        self.types[id_type] += 1
        self.best_score = max(self.best_score, score)

    def to_dict(self) -> dict:
        return {"location": self.location, "url": self.url, "content_id": self.content_id,
                "types": dict(sorted(self.types.items())), "count": sum(self.types.values()),
                "best_score": round(self.best_score, 4)}


@dataclass
class HuntResult:
    target: str
    mode: str  # url | path
    source: str
    via: str  # tor | direct | local
    run_id: str = ""
    people: dict[str, dict[str, Place]] = field(default_factory=dict)  # ref -> location -> place
    inputs: int = 0
    bytes: int = 0
    new_sightings: int = 0
    skipped: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)  # page status -> count (URL hunts)
    read: int = 0  # inputs whose text was scanned
    errors: Counter = field(default_factory=Counter)  # URL hunts: the crawl's errors by kind
    not_read: list[tuple[str, str]] = field(default_factory=list)  # (location, reason)
    share: ShareList | None = None  # --share-sha256

    def place(self, ref: str, location: str, url: str) -> Place:
        return self.people.setdefault(ref, {}).setdefault(location, Place(location, url))

    @property
    def findings(self) -> int:
        return sum(sum(p.types.values()) for places in self.people.values()
                   for p in places.values())

    def to_dict(self) -> dict:
        found = []
        for ref in sorted(self.people):
            places = sorted(self.people[ref].values(), key=lambda p: p.location)
            types: Counter = Counter()
            for p in places:
                types.update(p.types)
            found.append({
                "ref": ref, "types": dict(sorted(types.items())), "count": sum(types.values()),
                "best_score": round(max(p.best_score for p in places), 4),
                "locations": [p.to_dict() for p in places],
            })
        return {
            "target": self.target, "mode": self.mode, "source": self.source, "via": self.via,
            "run_id": self.run_id, "found": found,
            "not_read": [{"location": loc, "reason": reason} for loc, reason in self.not_read],
            "totals": {
                "people": len(self.people), "findings": self.findings,
                "locations": len({loc for places in self.people.values() for loc in places}),
                "inputs": self.inputs, "read": self.read, "bytes": self.bytes,
                "new_sightings": self.new_sightings, "skipped": dict(self.skipped),
                **({"statuses": dict(self.statuses)} if self.statuses else {}),
                **({"errors": dict(self.errors)} if self.errors else {}),
            },
            **({"share_sha256": self.share.to_dict()} if self.share is not None else {}),
        }


def is_url(target: str) -> bool:
    return target.lower().startswith(("http://", "https://"))


@click.command()
@click.argument("target", metavar="URL|PATH")
@click.option("--json", "as_json", is_flag=True, help="The findings and totals as JSON.")
@click.option("--direct", is_flag=True,
              help="Fetch the URL without Tor (clearnet only; never implied).")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes that scan a local path: this one and JOBS - 1 workers.")
@click.option("--source", default=HUNT_SOURCE, show_default=True,
              help="Source name the pages and sightings are recorded under.")
@click.option("--password-file", type=click.Path(dir_okay=False),
              help="Passwords for encrypted zip, 7z and PDF files of a local PATH, one a "
                   "line, tried in order (the file must be mode 0600).")
@click.option("--share-sha256", "share_sha256", is_flag=True, help=SHARE_HELP)
@click.pass_context
def hunt(ctx: click.Context, target: str, as_json: bool, direct: bool, jobs: int,
         source: str, password_file: str | None, share_sha256: bool) -> None:
    """Fetch URL now (through Tor) or read PATH, scan it, store and print who is in it.

    PATH is a file, a directory (recursively), an archive, or - for stdin.
    Exit 1 when an enrolled person was found, 0 when nobody was, 2 on error or when
    nothing could be read (an encrypted archive, only skipped inputs).
    """
    cfg = config_of(ctx)
    if is_url(target):
        if password_file:
            raise VahtiError("--password-file is for a local PATH")
        result = hunt_url(cfg, target, direct, source, share_sha256)
    else:
        if direct:
            raise VahtiError("--direct is for URLs: a local path is not fetched")
        if "://" in target:
            raise VahtiError("only http:// and https:// URLs can be hunted")
        result = hunt_path(cfg, target, jobs, source, progress=not as_json,
                           password_file=password_file, share_sha256=share_sha256)
    if as_json:
        echo(json.dumps(result.to_dict(), sort_keys=True))
    elif result.read or not result.skipped:
        _print_result(result)
    if not result.read and sum(result.skipped.values()):
        raise VahtiError(f"nothing could be read: {summary(result.skipped)}")
    sys.exit(1 if result.people else 0)


# -- a URL, through the crawl machinery ---------------------------------------------------


def hunt_url(cfg: Config, url: str, direct: bool, name: str,
             share_sha256: bool = False) -> HuntResult:
    key = load_key(cfg)
    try:
        source = hunt_source(url, key, direct=direct, name=name)
    except SourcesError as exc:
        raise VahtiError(str(exc).replace(f"source {name}: urls[0]", "URL")) from None
    _require_watchlist(cfg)
    summary = run_adhoc_crawl(cfg, source, share_sha256)
    if summary["reason"] == "tor_unavailable":
        raise VahtiError(f"hunt stopped before any request, Tor is not usable: "
                         f"{summary['tor_error']}")
    if summary["failure"]:  # e.g. "no request succeeded: 1 connection failure (tor: ...)"
        raise VahtiError(f"the URL could not be fetched: {summary['failure']}")
    if summary["reason"] in FAILED_REASONS or summary["reason"] != "finished":
        raise VahtiError(f"hunt of the URL failed: {summary['reason'].replace('_', ' ')}")
    if not summary["fetched"]:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(summary["errors"].items()))
        raise VahtiError(f"the URL could not be fetched ({errors or 'no response'})")
    with open_db(cfg, key) as storage:
        # the crawl's stored URLs: redacted with the same watchlist (its cached index)
        redactor = location_redactor(cfg, key, enrolled_index(storage, key, cfg.home))
        result = HuntResult(target=redactor.redact(url), mode="url", source=source.name,
                            via=summary["via"], run_id=summary["run_id"],
                            inputs=summary["pages"], bytes=summary["bytes"],
                            new_sightings=summary["new_sightings"],
                            skipped=Counter(summary["skipped"]),
                            errors=Counter(summary["errors"]), read=summary["read"])
        for fetched in dict.fromkeys(summary["fetched"]):
            _collect_page(storage, result, redactor.redact(fetched))
    if share_sha256:
        result.share = ShareList()
        for fetched, (size, shareable) in summary["shareable"].items():
            result.share.add(redactor.redact(fetched), size, shareable)
    return result


def run_adhoc_crawl(cfg: Config, source, share_sha256: bool = False) -> dict:  # noqa: ANN001
    """Crawl an ad hoc source in this process, as `vahti crawl` runs a named one."""
    settings = Settings()
    settings.setmodule(project_settings, priority="project")
    extensions = dict(project_settings.EXTENSIONS)
    extensions["vahti.spiders.services.CrawlServices"] = None  # it reads sources.toml
    extensions[EXTENSION] = 0
    settings.set("EXTENSIONS", extensions, priority="cmdline")
    settings.set("VAHTI_HOME", str(cfg.home), priority="cmdline")
    settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")  # vahti's redacting logs
    settings.set(SHARE_SETTING, share_sha256, priority="cmdline")
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(adhoc_spider_class(source, cfg))
    process.crawl(crawler)
    process.start()
    reason = crawler.stats.get_value("finish_reason") if crawler.stats else None
    services = getattr(crawler, "vahti", None)
    if not isinstance(services, AdHocServices):
        raise VahtiError("the hunt's crawl did not start")
    t = services.tally
    return {
        "source": source.name, "run_id": services.run_id, "reason": reason or "unknown",
        "tor_error": services.tor_error, "failure": services.failure,
        "pages": t.pages, "bytes": t.bytes, "hits": t.hits,
        "new_sightings": t.new_sightings, "errors": dict(t.errors),
        "skipped": dict(t.skipped),
        # pages scanned now, or known from an earlier scan of the same bytes
        "read": t.read + t.skipped_same_bytes + t.not_modified,
        "fetched": list(services.fetched), "via": "direct" if source.direct else "tor",
        "shareable": dict(services.shareable),
    }


def _collect_page(storage, result: HuntResult, stored: str) -> None:  # noqa: ANN001
    """The stored findings of a page fetched now (and of its archive members): the
    sightings that carry the page's current content id, whether this crawl wrote them or an
    earlier scan of the same bytes did. `stored` is the URL as stored (redacted), and
    so is the printed location: identifiers in it are keyed tokens."""
    record = pages.page(storage, stored)
    if record is None:
        return
    result.statuses[record.get("status", "ok")] += 1
    content_id = record.get("content_id", "")
    member_id: dict[str, str] = {}
    for s in sightings.of_page(storage, stored):
        if s.page_content_id != content_id:
            continue  # an older version of the page
        if s.page_url not in member_id:
            member = pages.page(storage, s.page_url) if s.page_url != stored else record
            member_id[s.page_url] = (member or {}).get("content_id") or content_id
        place = result.place(s.ref, s.page_url, s.page_url)
        place.content_id = member_id[s.page_url]
        place.add(s.id_type, s.score)


def _require_watchlist(cfg: Config) -> None:
    key = load_key(cfg)
    with open_db(cfg, key) as storage:
        enrolled_index(storage, key, cfg.home)


# -- a local path, through the scan machinery ---------------------------------------------


def hunt_path(cfg: Config, path: str, jobs: int, name: str, progress: bool,
              password_file: str | None = None, share_sha256: bool = False) -> HuntResult:
    key = load_key(cfg)
    redactor = LocationRedactor(key)  # for the path check; the watchlist-aware one below
    if path != "-" and not os.path.exists(path):
        raise VahtiError(f"no such file or directory: {shown_location(path, redactor)}")
    limits = archive_limits(cfg, password_file)
    # a hunted dump is kept like a crawled page: its keyed candidates serve later
    # searches and retro-hunts (storage/candidates.py)
    options = ScanOptions(region=cfg.get("matchers.phone_region"),
                          customer_id_pattern=cfg.get("matchers.customer_id_pattern") or None,
                          retain=True)
    result = HuntResult(target="", mode="path", source=name, via="local",
                        share=ShareList() if share_sha256 else None)
    tally = ScanTally()
    with open_db(cfg, key) as storage:
        index = enrolled_index(storage, key, cfg.home)
        result.run_id = runs.start_run(storage, name, "hunt")
        redactor = location_redactor(cfg, key, index)  # enrolled phones and names too
        result.target = redactor.redact(path)  # as its locations are shown
        writer = SightingWriter(storage, name, tally, redactor)
        open_places: dict[str, list[Place]] = {}
        state = "done"
        try:
            with ProgressBar((path,), quiet=not progress) as advance:
                for event in scan_files([path], index, key, options, jobs=jobs,
                                        limits=limits, progress=advance):
                    record_event(event, tally, writer, redactor)
                    if isinstance(event, Finding):
                        place = result.place(event.ref, redactor.redact(event.location), "")
                        place.add(event.id_type, event.score)
                        open_places.setdefault(event.location, []).append(place)
                    elif isinstance(event, Scanned):
                        for place in open_places.pop(event.location, []):
                            place.content_id = event.content_id
                            place.url = writer.stored_url(event)
                        if result.share is not None:
                            result.share.add(writer.stored_url(event), event.size,
                                             event.shareable_sha256)
            if tally.nothing_read((path,)):
                state = "failed"
        except BaseException:
            state = "interrupted"
            raise
        finally:
            writer.flush()
            runs.finish_run(storage, result.run_id, tally.run_stats(), state=state)
    result.inputs, result.bytes, result.read = tally.inputs, tally.bytes, tally.read
    result.new_sightings, result.skipped = tally.new_sightings, tally.skipped
    result.not_read = tally.skips.inputs
    if not tally.read and not tally.skips.count:
        raise VahtiError(tally.nothing_read((path,)) or "nothing could be read")
    return result


# -- output -------------------------------------------------------------------------------


def _print_result(result: HuntResult) -> None:
    out = console()
    data = result.to_dict()
    rows = [(person, place) for person in data["found"] for place in person["locations"]]
    if rows:
        table = Table()
        table.add_column("ref", no_wrap=True)
        table.add_column("types", no_wrap=True)
        table.add_column("count", justify="right")
        table.add_column("score", justify="right")
        table.add_column("location", overflow="fold")
        table.add_column("content id", no_wrap=True)
        for person, place in rows[:TABLE_ROWS]:
            types = ", ".join(f"{t} {n}" for t, n in place["types"].items())
            table.add_row(person["ref"], types, str(place["count"]),
                          f"{place['best_score']:.2f}", place["location"],
                          place["content_id"][:16])
        out.print(table)
        if len(rows) > TABLE_ROWS:
            out.print(f"... {len(rows) - TABLE_ROWS} more rows (all of them: --json)")
    t = data["totals"]
    skipped = sum(t["skipped"].values())
    where = f"via {result.via}" if result.mode == "url" else "local"
    out.print(
        f"{t['people']} enrolled people found ({t['findings']} findings in {t['locations']} "
        f"locations) in {t['inputs']} inputs, {t['bytes'] / 1e6:.1f} MB, {where}; "
        f"{t['new_sightings']} new sightings stored under source {result.source}"
        + (f"; {skipped} skipped" if skipped else "")
        + (f"; errors: {', '.join(f'{k} {n}' for k, n in sorted(result.errors.items()))}"
           if result.errors else "")
    )
    odd = {k: n for k, n in t.get("statuses", {}).items() if k != "ok"}
    if odd:
        out.print("pages not scanned whole: " + ", ".join(f"{k} {n}" for k, n in odd.items()))
    print_not_read(result.skipped)
    for line in result.share.lines() if result.share is not None else ():
        echo(line)
    if result.people:
        return
    if sum(result.skipped.values()):
        # never "nobody is in it" when part of it was not read
        out.print("nobody on the watchlist is in the part that could be read")
    else:
        out.print("nobody on the watchlist is in it")
