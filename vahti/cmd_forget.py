"""`vahti forget --ref REF`: remove an enrolled person, their sightings, and the ref
from alerts (see `storage.forget` for what goes and what stays)."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import click
from rich.table import Table

from vahti.clictx import config_of, console
from vahti.display import IDENTIFIER_AS_REF, clean, echo, looks_like_identifier
from vahti.errors import VahtiError
from vahti.matchers.fragments import MIN_REL_MATCHES
from vahti.storage import candidate_index, watchlist
from vahti.storage.connection import Storage
from vahti.storage.forget import CHANGED, Compaction, ForgetReport, compact, forget_ref, plan_forget
from vahti.watchlist_cache import cache_root, repaired_forget
from vahti.wiring import open_db

log = logging.getLogger("vahti.watchlist")


@click.command()
@click.option("--ref", "ref", required=True, help="The register's ref of the person.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="What was removed, as JSON.")
@click.option("--compact", "run_compact", is_flag=True,
              help="Then ask the database server to compact the collections it changed "
                   "(MongoDB's compact; the embedded server has none).")
@click.pass_context
def forget(ctx: click.Context, ref: str, yes: bool, as_json: bool, run_compact: bool) -> None:
    """Remove the person REF: watchlist entry, sightings, their keys in every page's
    retained candidates, and the ref from alerts.

    Alerts stay as events without the ref; deliveries not yet sent go out without
    it (or not at all when nobody else is left in the alert). Prints what stays
    (database files until compaction, oplog, backups, delivered alerts). Asks
    first unless --yes. Exit 0 when done, 2 when the ref is unknown or nothing
    was confirmed.
    """
    ref = ref.strip()
    if not ref:
        raise VahtiError("--ref must not be empty")
    cfg = config_of(ctx)
    with open_db(cfg) as storage:
        _repair_interrupted_forgets(storage)
        plan = plan_forget(storage, ref)
        if not plan.known and looks_like_identifier(ref):
            raise VahtiError(IDENTIFIER_AS_REF)  # never echoed: it may be someone's
        if not plan.known:
            raise VahtiError(f"unknown ref {ref!r}: not enrolled, no sightings, no alerts")
        if not yes:
            if not sys.stdin.isatty():
                raise VahtiError("forget removes data for good: confirm with --yes "
                                 "(stdin is not a terminal)")
            _print_report(plan, "would remove")
            if not click.confirm(f"Forget {clean(ref)}?", default=False, err=True):
                raise VahtiError("nothing forgotten")
        # a page matches a note from this many fingerprints on: fewer never held its text
        report = forget_ref(storage, ref, fragment_min_shared=MIN_REL_MATCHES)
        # this machine's candidate cache is rewritten now, without the person's keys
        cache = candidate_index.load(storage, cfg.home)
        compaction = compact(storage) if run_compact else None
        stays = _stays(storage, report, compaction)
    dropped = _drop_stale_caches(cfg.home, report.watchlist_version)
    if as_json:
        echo(json.dumps({**report.to_dict(), "cached_indexes_dropped": dropped,
                               "candidate_cache_keys": cache.n_keys,
                               "compaction": vars(compaction) if compaction else None,
                               "stays": stays}, sort_keys=True))
    else:
        _print_report(report, "removed")
        _print_stays(stays)


def _repair_interrupted_forgets(storage: Storage) -> None:
    """Remove the marks of forgets that died while they removed a person from the
    watchlist (storage/forget.py): until then every command reads the watchlist from the
    database. What they left undone is done by forgetting that ref again."""
    for write in watchlist.repair_interrupted(storage, watchlist.FORGET):
        log.warning("%s", repaired_forget(write.started.strftime("%Y-%m-%d %H:%M UTC"),
                                          write.host))


def _drop_stale_caches(home: Path, version: int) -> int:
    """Indexes cached for an older watchlist version hold the person's digests: gone
    now rather than at the next scan (which would rebuild and drop them anyway)."""
    root = cache_root(home)
    if not root.is_dir():
        return 0
    dropped = 0
    for path in root.iterdir():
        if (path.is_dir() and not path.name.startswith(".building-")
                and not path.name.endswith(f"-v{version}")):
            shutil.rmtree(path, ignore_errors=True)
            dropped += 1
    return dropped


def _print_report(r: ForgetReport, verb: str) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("ref", r.ref)
    table.add_row("watchlist", f"{verb} {r.watchlist} entry" if r.watchlist
                  else "not enrolled (any other records of the ref are removed)")
    table.add_row("sightings", f"{verb} {r.sightings}")
    table.add_row("alerts", f"{r.alerts_scrubbed} name the ref: they stay as events without "
                            f"it; {r.alerts_emptied} about nobody else")
    table.add_row("deliveries", f"{r.deliveries_withdrawn} pending withdrawn (alert about "
                                f"nobody else), {r.deliveries_pending} pending go out without "
                                f"the ref")
    if r.false_positives:
        table.add_row("false positives", f"{r.false_positives} (page content, ref) pairs "
                                         "marked false positive: forgotten")
    if r.deliveries_sent:
        sent = ", ".join(f"{ch} {n}" for ch, n in sorted(r.deliveries_sent.items()))
        table.add_row("already sent", f"{sent} (named the ref; cannot be recalled)")
    if verb == "removed":
        table.add_row("retained candidates",
                      f"{r.retained_keys} keys removed from {r.retained_documents} documents "
                      f"(one per page and type) of the retained candidates (every type the "
                      f"identifiers read as, the note's fingerprints): searches no longer find "
                      f"the person there, and a later re-enrolment finds them only in pages "
                      f"seen from then on"
                      + (f"; also under {r.retired_key_copies} retired keys (from before a "
                         f"key rotation)" if r.retired_key_copies else ""))
    else:
        table.add_row("retained candidates", "the person's keys are removed from every "
                                             "page's retained candidates")
    console(stderr=verb != "removed").print(table)


def _stays(storage: Storage, r: ForgetReport, compaction: Compaction | None) -> list[str]:
    """What a forget cannot remove, said plainly (also in --json)."""
    embedded = storage.mode == "embedded"
    names = ", ".join(CHANGED)
    if compaction is not None and compaction.compacted == list(CHANGED):
        files = f"compacted now ({names}): the server rewrote their files"
    elif (compaction is not None and not compaction.supported) or (compaction is None
                                                                   and embedded):
        files = ("the database server has no compact command (the embedded SecantusDB "
                 "0.7 has none): the old bytes stay until later writes reuse the space")
    elif compaction is not None:
        files = f"compaction failed ({compaction.error}): run it as a database administrator"
    else:
        files = (f"to rewrite them: vahti forget ... --compact, or db.runCommand({{compact: "
                 f"NAME}}) for {names} on every member of a replica set")
    stays = [
        "database files: the removed and rewritten documents (the watchlist entry, "
        "sightings, the pages' retained candidates as first written) keep their old bytes "
        "in the WiredTiger data files and journal until compaction; " + files,
        ("oplog: none on the embedded server (it runs standalone for this reason)"
         if embedded else
         "oplog: a replica set's oplog (local.oplog.rs, on every member) keeps the writes, "
         "whole documents, until it rolls over"),
        "backups, snapshots and `vahti db dump` files made before now",
        "alerts already delivered stay at their receivers"
        + (f" ({sum(r.deliveries_sent.values())} named the ref)" if r.deliveries_sent else ""),
        "page URLs and archive member names that held one of the person's identity codes or "
        "e-mail addresses keep its keyed token ([hetu:...]): vahti holds no plaintext to "
        "compute it from; those page records go with retention ([retention] pages_days)",
        "other machines' (homes') local candidate caches: rebuilt at their next search or "
        "retro-hunt, before any lookup",
    ]
    if not r.readings_known:
        stays.append("the person was enrolled before vahti stored the other types their "
                     "identifiers read as: retained keys under those types (a phone number's "
                     "digits read as a CPR number) stay; enroll the register again before "
                     "forgetting someone to remove those too")
    return stays


def _print_stays(stays: list[str]) -> None:
    out = console()
    out.print("What stays (vahti cannot remove it):")
    for line in stays:
        out.print(f"  - {line}")
