"""`vahti daemon` and `vahti jobs ...`: scheduled crawls.

`jobs run|pause|resume|reload` go through the database (a queued command the
daemon polls for), so they reach a running daemon on any host; `jobs list`
reads the job store, leases and runs, with or without a daemon.
"""

from __future__ import annotations

import json
import sys
import time

import click
from rich.table import Table

from vahti.clictx import config_of, console
from vahti.config import Config
from vahti.display import echo, styled
from vahti.errors import VahtiError
from vahti.spiders.sources import SourcesError, read_sources, sources_path
from vahti.storage import job_commands, leases
from vahti.wiring import open_db


@click.command("daemon")
@click.pass_context
def daemon(ctx: click.Context) -> None:
    """Crawl every enabled source on its schedule, until SIGTERM.

    Several daemons may share one database: each scheduled crawl runs once.
    SIGHUP reloads config.toml (all but [storage] and [key], which take a restart;
    the log file is reopened) and sources.toml; SIGTERM stops the running crawls gracefully
    (they resume on the next start) and exits 0.
    """
    from vahti.scheduler.daemon import Daemon

    runner = Daemon(config_of(ctx))
    runner.install_signal_handlers()

    def started(owner: str, n_jobs: int) -> None:
        echo(f"vahti daemon {owner}: {n_jobs} jobs; SIGHUP reloads, SIGTERM stops")
        sys.stdout.flush()

    sys.exit(runner.run(started))


@click.group("jobs")
def jobs_group() -> None:
    """The daemon's jobs: one per enabled source."""


@jobs_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def jobs_list(ctx: click.Context, as_json: bool) -> None:
    """Jobs: schedule, next run, paused, last run, and who runs one now."""
    from vahti.scheduler.jobs import describe_jobs

    cfg = config_of(ctx)
    with open_db(cfg) as storage:
        info = describe_jobs(storage, cfg.home)
    if as_json:
        echo(json.dumps(info, indent=2, sort_keys=True))
        return
    table = Table("source", "schedule", "next run", "last run", "running now")
    for row in info["jobs"]:
        if row["paused"]:
            nxt = styled("paused", "yellow")
        elif not row["scheduled"]:
            nxt = "not scheduled yet (jobs reload)"
        else:
            nxt = row["next_run"] or ""
        last = row["last_run"]
        last_text = (f"{last['state']} {last.get('finished') or last.get('started') or ''}"
                     + (f" ({last['reason']})" if last.get("reason") else "")) if last else ""
        running = row["running"]
        run_text = f"run {running['run_id']} by {running['owner']}" if running else ""
        table.add_row(row["source"], row["schedule"] or "", nxt, last_text, run_text)
    out = console()
    out.print(table)
    if info["daemons"]:
        for d in info["daemons"]:
            out.print(f"daemon {d['owner']} running since {d['started']}")
    else:
        out.print("no daemon running (vahti daemon)")
    for problem in sorted(info["problems"].values()):
        out.print(styled(problem, "red"))


def _check_source(cfg: Config, name: str, need_enabled: bool) -> None:
    try:
        read = read_sources(sources_path(cfg.home))
    except SourcesError as exc:
        raise VahtiError(str(exc)) from None
    if name not in read.sources and name not in read.problems:
        raise VahtiError(f"no source named {name!r} (vahti sources list)")
    source = read.sources.get(name)
    if need_enabled and source is not None and not source.enabled:
        raise VahtiError(f"source {name} is disabled, so it has no job "
                         f"(vahti sources enable {name})")


def _send(cfg: Config, action: str, source: str = "") -> None:
    """Queue a command; with a daemon running, wait for its answer."""
    what = f"{action} {source}".strip()
    with open_db(cfg) as storage:
        command_id = job_commands.enqueue(storage, action, source, requested_by="cli")
        if not leases.live_daemons(storage):
            echo(f"{what}: queued; no daemon is running, it is carried out when "
                 "`vahti daemon` starts")
            return
        poll_s = float(cfg.get("daemon.poll_s"))
        deadline = time.monotonic() + max(10.0, 4 * poll_s + 5)
        while time.monotonic() < deadline:
            doc = job_commands.get(storage, command_id) or {}
            if doc.get("state") == job_commands.DONE:
                echo(doc.get("message") or f"{what}: done")
                return
            if doc.get("state") == job_commands.FAILED:
                raise VahtiError(doc.get("message") or f"{what} failed")
            time.sleep(min(0.2, poll_s / 4))
    echo(f"{what}: queued; the daemon has not answered yet (vahti jobs list)")


@jobs_group.command("run")
@click.argument("source")
@click.pass_context
def jobs_run(ctx: click.Context, source: str) -> None:
    """Crawl SOURCE now (by a running daemon; queued if none runs)."""
    cfg = config_of(ctx)
    _check_source(cfg, source, need_enabled=False)
    _send(cfg, "run", source)


@jobs_group.command("pause")
@click.argument("source")
@click.pass_context
def jobs_pause(ctx: click.Context, source: str) -> None:
    """Stop SOURCE's scheduled crawls until `jobs resume` (for every daemon)."""
    cfg = config_of(ctx)
    _check_source(cfg, source, need_enabled=True)
    _send(cfg, "pause", source)


@jobs_group.command("resume")
@click.argument("source")
@click.pass_context
def jobs_resume(ctx: click.Context, source: str) -> None:
    """Schedule SOURCE's crawls again after `jobs pause`."""
    cfg = config_of(ctx)
    _check_source(cfg, source, need_enabled=True)
    _send(cfg, "resume", source)


@jobs_group.command("reload")
@click.pass_context
def jobs_reload(ctx: click.Context) -> None:
    """Sync the jobs with sources.toml (added, changed, removed, disabled sources)."""
    _send(config_of(ctx), "reload")
