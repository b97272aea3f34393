"""`vahti forget --ref REF`: remove an enrolled person, their sightings, and the ref
from alerts (see `storage.forget` for what goes and what stays)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import click
from rich.table import Table

from storage.forget import ForgetReport, forget_ref, plan_forget
from vahti.clictx import config_of, console
from vahti.display import IDENTIFIER_AS_REF, clean, echo, looks_like_identifier
from vahti.errors import VahtiError
from vahti.watchlist_cache import cache_root
from vahti.wiring import open_db


@click.command()
@click.option("--ref", "ref", required=True, help="The register's ref of the person.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="What was removed, as JSON.")
@click.pass_context
def forget(ctx: click.Context, ref: str, yes: bool, as_json: bool) -> None:
    """Remove the person REF: watchlist entry, sightings, and the ref from alerts.

    Alerts stay as events without the ref; deliveries not yet sent go out without
    it (or not at all when nobody else is left in the alert). Asks first unless
    --yes. Exit 0 when done, 2 when the ref is unknown or nothing was confirmed.
    """
    ref = ref.strip()
    if not ref:
        raise VahtiError("--ref must not be empty")
    cfg = config_of(ctx)
    with open_db(cfg) as storage:
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
        report = forget_ref(storage, ref)
    dropped = _drop_stale_caches(cfg.home, report.watchlist_version)
    if as_json:
        echo(json.dumps({**report.to_dict(), "cached_indexes_dropped": dropped},
                        sort_keys=True))
    else:
        _print_report(report, "removed")


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
    if r.deliveries_sent:
        sent = ", ".join(f"{ch} {n}" for ch, n in sorted(r.deliveries_sent.items()))
        table.add_row("already sent", f"{sent} (named the ref; cannot be recalled)")
    console(stderr=verb != "removed").print(table)
