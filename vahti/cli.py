"""The `vahti` command. Wiring only: each subcommand calls into the parts.

Exit codes: 0 ok, 1 something found, 2 error. Errors are one line on stderr;
`--debug` adds the traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from matchers.keys import KeyFileError
from spiders.sources import SourcesError
from spiders.torctl import TorUnavailable
from storage.dump import dump_all
from storage.errors import StorageError, database_failures
from vahti import __version__
from vahti.clictx import config_of, console
from vahti.cmd_alerts import alerts_group
from vahti.cmd_crawl import crawl
from vahti.cmd_enroll import enroll, watchlist_group
from vahti.cmd_forget import forget
from vahti.cmd_hunt import hunt
from vahti.cmd_jobs import daemon, jobs_group
from vahti.cmd_key import key_group, key_status
from vahti.cmd_report import report_group
from vahti.cmd_scan import scan
from vahti.cmd_search import search_command
from vahti.cmd_sources import sources_group
from vahti.cmd_tor import tor_group, tor_info, tor_line
from vahti.config import load_config
from vahti.demo.command import demo
from vahti.display import echo, error_text, show_error, styled
from vahti.errors import VahtiError, disk_failures
from vahti.home import init_home
from vahti.logs import setup_logging
from vahti.wiring import load_key, open_db

log = logging.getLogger("vahti")
USER_ERRORS = (VahtiError, StorageError, KeyFileError, TorUnavailable, SourcesError)

_debug = False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vahti")
@click.option("--home", type=click.Path(file_okay=False), help="VAHTI_HOME for this command.")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.pass_context
def cli(ctx: click.Context, home: str | None, debug: bool) -> None:
    """vahti watches leak sites for a register's people, storing only keyed digests."""
    global _debug
    _debug = debug
    os.umask(os.umask(0o077) | 0o077)  # whatever vahti writes is its user's only
    cfg = load_config(home_flag=home)
    setup_logging(
        cfg.home,
        level="DEBUG" if debug else cfg.get("log.level"),
        stderr_level="DEBUG" if debug else cfg.get("log.stderr_level"),
    )
    for warning in cfg.warnings:
        log.warning(warning)
    ctx.obj = {"config": cfg}


@cli.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the home, a commented config.toml and the key; prepare the database."""
    cfg = config_of(ctx)
    report = init_home(cfg)
    setup_logging(cfg.home, cfg.get("log.level"), cfg.get("log.stderr_level"))
    with open_db(cfg, load_key(cfg)) as storage:
        report.lines.append(
            f"database: {storage.mode} at {storage.display_uri}, key id {report.key_id} bound"
        )
    for line in report.lines:
        echo(line)
    log.info("init done, key id %s", report.key_id)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Home, key id, storage mode and server, collection counts."""
    cfg = config_of(ctx)
    info: dict[str, Any] = {"version": __version__, "home": str(cfg.home),
                            "home_exists": cfg.home.is_dir()}
    ok = True
    key = None
    try:
        key = load_key(cfg)
        info["key"] = {"path": str(cfg.key_path), "id": key.key_id}
    except KeyFileError as exc:
        info["key"] = {"path": str(cfg.key_path), "error": str(exc)}
        ok = False
    try:
        with open_db(cfg) as storage:
            meta = storage.meta()
            info["storage"] = {
                "mode": storage.mode,
                "uri": storage.display_uri,
                "database": cfg.get("storage.database"),
                "server_version": storage.server_version(),
                "schema_version": meta.get("schema_version"),
                "key_id": meta.get("key_id"),
                "counts": storage.counts(),
                # the active key id and the retired ones still in use (vahti key show)
                "keys": key_status(cfg, storage, key, counts=False),
            }
            if key is not None and meta.get("key_id") not in (None, key.key_id):
                info["storage"]["error"] = (
                    f"database key id {meta.get('key_id')} differs from the key's {key.key_id}"
                )
                ok = False
    except StorageError as exc:
        info["storage"] = {"mode": "external" if cfg.get("storage.uri") else "embedded",
                           "error": str(exc)}
        ok = False
    info["tor"] = tor_info(cfg)  # never starts tor; tor trouble does not change the exit code
    if as_json:
        echo(json.dumps(info, indent=2, sort_keys=True))
    else:
        _print_status(info)
    if not ok:
        sys.exit(2)


def _print_status(info: dict[str, Any]) -> None:
    out = console()
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("vahti", info["version"])
    table.add_row("home", info["home"] + ("" if info["home_exists"] else "  (missing: vahti init)"))
    key = info["key"]
    table.add_row("key", f"id {key['id']}" if "id" in key else styled(key["error"], "red"))
    st = info["storage"]
    if "server_version" in st:
        table.add_row("storage", f"{st['mode']} {st['uri']} db {st['database']}, "
                      f"server {st['server_version']}, schema {st['schema_version']}")
        table.add_row("database key id", str(st["key_id"]))
        retired = [k["key_id"] for k in st["keys"]["live"] if k["state"] == "retired"]
        if retired:
            table.add_row("retired key ids", ", ".join(retired) + " (vahti key show)")
        for note in st["keys"]["notes"]:
            table.add_row("key", styled(note, "yellow"))
        for name, n in st["counts"].items():
            table.add_row(f"  {name}", str(n))
    if "error" in st:
        table.add_row("storage", styled(st["error"], "red"))
    table.add_row("tor", tor_line(info["tor"]))
    out.print(table)


@cli.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Effective configuration and where each value came from; never a secret."""
    rows = list(config_of(ctx).shown())
    if as_json:
        echo(json.dumps({k: {"value": v, "origin": o} for k, v, o in rows}, indent=2))
        return
    table = Table("setting", "value", "from")
    for row in rows:
        table.add_row(*row)
    console().print(table)


@cli.group()
def db() -> None:
    """Database tools."""


@db.command("dump")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for one <collection>.jsonl per collection.")
@click.pass_context
def db_dump(ctx: click.Context, out_dir: str) -> None:
    """Export every collection as JSON lines (audits, privacy checks)."""
    with open_db(config_of(ctx)) as storage:
        written = dump_all(storage, Path(out_dir))
    for name, n in written.items():
        echo(f"{name}: {n}")


cli.add_command(enroll)
cli.add_command(key_group)
cli.add_command(scan)
cli.add_command(search_command)
cli.add_command(watchlist_group)
cli.add_command(sources_group)
cli.add_command(tor_group)
cli.add_command(crawl)
cli.add_command(alerts_group)
cli.add_command(jobs_group)
cli.add_command(daemon)
cli.add_command(report_group)
cli.add_command(hunt)
cli.add_command(forget)
cli.add_command(demo)


def main(argv: list[str] | None = None) -> int:
    try:
        # the database lost mid-command, a full disk: one line, exit 2
        with database_failures(), disk_failures():
            cli.main(args=argv, prog_name="vahti", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        show_error(exc)  # click repeats what it refused: maybe an identifier
        return 2
    except click.Abort:
        echo("vahti: aborted", err=True)
        return 2
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    except USER_ERRORS as exc:
        log.debug("error", exc_info=True)
        echo(f"vahti: error: {error_text(exc)}", err=True)
        if _debug:
            _print_traceback()
        return 2
    except KeyboardInterrupt:
        echo("vahti: interrupted", err=True)
        return 2
    except Exception as exc:  # noqa: BLE001 - the last resort keeps tracebacks off the screen
        log.error("internal error", exc_info=True)
        echo(
            f"vahti: internal error ({type(exc).__name__}); details in the log"
            + ("" if _debug else ", or rerun with --debug"),
            err=True,
        )
        if _debug:
            _print_traceback()
        return 2
    return 0


def _print_traceback() -> None:
    """--debug: the traceback as the log has it (its messages may hold a name or a value)."""
    echo(error_text(traceback.format_exc()), err=True, nl=False)


if __name__ == "__main__":
    sys.exit(main())
