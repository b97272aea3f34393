"""The `vahti` command. Wiring only: each subcommand calls into the parts.

Exit codes: 0 ok, 1 something found, 2 error. Errors are one line on stderr;
`--debug` adds the traceback.
"""

from __future__ import annotations

import gc
import importlib
import json
import logging
import os
import sys
import traceback
from typing import TYPE_CHECKING, Any

import click

from vahti import __version__

if TYPE_CHECKING:
    from vahti.config import Config

# Subcommands live in modules of their own and are imported only when they run:
# together they import Scrapy, Twisted, pymongo, numpy and rich (about a second), which
# `vahti --help` and every other command would otherwise pay for. The help listed by
# `vahti --help` is this table's, so listing the commands imports none of them.
# To add a command: one line here, name -> ("module:attribute", one-line help).
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "alerts": ("vahti.cmd_alerts:alerts_group",
               "Alerts and their delivery to the configured channels."),
    "crawl": ("vahti.cmd_crawl:crawl", "Crawl the source NAME now (through Tor unless the "
              "source is direct)."),
    "daemon": ("vahti.cmd_jobs:daemon",
               "Crawl every enabled source on its schedule, until SIGTERM."),
    "db": ("vahti.cmd_db:db_group", "Database tools: dump and load (moving to a MongoDB server)."),
    "demo": ("vahti.demo.command:demo",
             "The whole story on a fictional clinic, in a few minutes, offline."),
    "enroll": ("vahti.cmd_enroll:enroll",
               "Enroll a register (CSV with a header and a `ref` column)."),
    "export": ("vahti.cmd_export:export_group", "Alerts as MISP JSON or a STIX 2.1 bundle file."),
    "forget": ("vahti.cmd_forget:forget",
               "Remove the person REF: watchlist entry, sightings, their locations."),
    "hunt": ("vahti.cmd_hunt:hunt",
             "Fetch URL now (through Tor) or read PATH, scan it, store and alert."),
    "key": ("vahti.cmd_key:key_group", "The secret key: show, backup, rotate, retire."),
    "jobs": ("vahti.cmd_jobs:jobs_group", "The daemon's jobs: one per enabled source."),
    "report": ("vahti.cmd_report:report_group",
               "Exposure reports for management and the data-protection officer."),
    "scan": ("vahti.cmd_scan:scan",
             "Scan files, directories (recursively), archives or - (stdin)."),
    "search": ("vahti.cmd_search:search_command",
               "Where identifiers (from stdin or --file) or enrolled people were seen."),
    "sources": ("vahti.cmd_sources:sources_group",
                "Sources to crawl: paste listings, forums, sites, single URLs."),
    "tor": ("vahti.cmd_tor:tor_group", "The tor vahti crawls through."),
    "watchlist": ("vahti.cmd_enroll:watchlist_group", "The enrolled people (digests only)."),
}

# The errors shown as one line with exit 2, as (module, class): looked up only once an
# exception is raised, and only in modules already imported (an exception can be an
# instance of a class only once its module is loaded), so none is imported for it.
USER_ERRORS = (("vahti.errors", "VahtiError"), ("vahti.storage.errors", "StorageError"),
               ("vahti.matchers.keys", "KeyFileError"), ("vahti.spiders.torctl", "TorUnavailable"),
               ("vahti.spiders.sources", "SourcesError"))

# Commands that start work before their module is imported, as name ->
# "module:function(ctx, config, the command's arguments)" (vahti.scan_start).
PRESTART: dict[str, str] = {"scan": "vahti.scan_start:prestart"}

log = logging.getLogger("vahti")

_debug = False


class LazyGroup(click.Group):
    """A command group whose subcommands in LAZY_COMMANDS are imported when they run
    (or their own --help is asked for), not when the group is built or listed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *LAZY_COMMANDS})

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] in PRESTART and args[0] not in self.commands:
            set_up(ctx)  # the group's own setup (umask, logging) before anything starts
            module, _, attribute = PRESTART[args[0]].partition(":")
            getattr(importlib.import_module(module), attribute)(
                ctx, config_of_command(ctx), args[1:])
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            config_of_command(ctx)  # before the import: it decides how pymongo loads
            module, _, attribute = LAZY_COMMANDS[cmd_name][0].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's listing, with the table's help for commands not imported yet."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names), default=0)
        rows = []
        for name in names:
            command = self.commands.get(name)
            if command is None:
                rows.append((name, _shortened(LAZY_COMMANDS[name][1], limit)))
            elif not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def config_of_command(ctx: click.Context) -> Config:
    """The configuration, loaded once per command: by the group, or before a command's
    module is imported (click resolves the command before it calls the group)."""
    if "vahti.config" not in ctx.meta:
        from vahti.config import load_config

        cfg = load_config(home_flag=ctx.params.get("home"))
        if not cfg.get("storage.uri"):
            from vahti.storage.driver import for_embedded_only

            for_embedded_only()  # pymongo without pyOpenSSL: 0.15 s less per command
        ctx.meta["vahti.config"] = cfg
    return ctx.meta["vahti.config"]


def _shortened(text: str, limit: int) -> str:
    """`text` cut at a word to fit `limit` characters, as click shortens a docstring."""
    if len(text) <= limit:
        return text
    return text[:max(limit - 3, 1)].rsplit(" ", 1)[0].rstrip(",;:") + "..."


def _is_user_error(exc: BaseException) -> bool:
    return any(isinstance(exc, getattr(sys.modules[module], name))
               for module, name in USER_ERRORS if module in sys.modules)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vahti")
@click.option("--home", type=click.Path(file_okay=False), help="VAHTI_HOME for this command.")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.pass_context
def cli(ctx: click.Context, home: str | None, debug: bool) -> None:
    """vahti watches leak sites for a register's people, storing only keyed digests."""
    set_up(ctx)


def set_up(ctx: click.Context) -> None:
    """The group's setup, once per command: by the group, or before a command starts
    work of its own (PRESTART)."""
    if "vahti.set_up" in ctx.meta:
        return
    ctx.meta["vahti.set_up"] = True
    from vahti.logs import configure_logging  # lazy like the commands: not for --help

    global _debug
    _debug = bool(ctx.params.get("debug"))
    os.umask(os.umask(0o077) | 0o077)  # whatever vahti writes is its user's only
    cfg = config_of_command(ctx)
    configure_logging(cfg, _debug)
    for warning in cfg.warnings:
        log.warning(warning)
    ctx.obj = {"config": cfg}


@cli.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the home, a commented config.toml and the key; prepare the database."""
    # the commands defined here import what they use when they run (see LAZY_COMMANDS)
    from vahti.clictx import config_of
    from vahti.display import echo
    from vahti.home import init_home
    from vahti.logs import configure_logging
    from vahti.wiring import load_key, open_db

    cfg = config_of(ctx)
    report = init_home(cfg)
    configure_logging(cfg)
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
    from vahti.clictx import config_of
    from vahti.cmd_key import key_status
    from vahti.cmd_tor import tor_info
    from vahti.display import echo
    from vahti.key_source import chosen_source as chosen_key_source
    from vahti.key_source import load_key as read_key
    from vahti.matchers.keys import KeyFileError
    from vahti.storage.errors import StorageError
    from vahti.wiring import open_db

    cfg = config_of(ctx)
    info: dict[str, Any] = {"version": __version__, "home": str(cfg.home),
                            "home_exists": cfg.home.is_dir()}
    ok = True
    key = None
    source = None
    try:
        source = chosen_key_source(cfg)
        key, source = read_key(cfg)
        info["key"] = {"id": key.key_id}
    except KeyFileError as exc:
        info["key"] = {"error": str(exc)}
        ok = False
    if source is not None:  # where the key came from (kind and place), never the key
        info["key"] |= {"source": source.kind, "from": source.describe()}
        if source.kind in ("file", "credential"):
            info["key"]["path"] = source.where
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
    from rich.table import Table

    from vahti.clictx import console
    from vahti.cmd_tor import tor_line
    from vahti.display import styled

    out = console()
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("vahti", info["version"])
    table.add_row("home", info["home"] + ("" if info["home_exists"] else "  (missing: vahti init)"))
    key = info["key"]
    table.add_row("key", f"id {key['id']}, from {key['from']}" if "id" in key
                  else styled(key["error"], "red"))
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
    from rich.table import Table

    from vahti.clictx import config_of, console
    from vahti.display import echo

    rows = list(config_of(ctx).shown())
    if as_json:
        echo(json.dumps({k: {"value": v, "origin": o} for k, v, o in rows}, indent=2))
        return
    table = Table("setting", "value", "from")
    for row in rows:
        table.add_row(*row)
    console().print(table)


def main(argv: list[str] | None = None) -> int:
    from vahti.display import echo, error_text, show_error
    from vahti.errors import disk_failures
    from vahti.storage.errors import database_failures

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
    except KeyboardInterrupt:
        echo("vahti: interrupted", err=True)
        return 2
    except Exception as exc:  # noqa: BLE001 - the last resort keeps tracebacks off the screen
        if _is_user_error(exc):
            log.debug("error", exc_info=True)
            echo(f"vahti: error: {error_text(exc)}", err=True)
            if _debug:
                _print_traceback()
            return 2
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


def run() -> None:
    """The `vahti` command (console script, `python -m vahti`): `main`, then the exit.

    Before the exit, everything still alive is moved out of the garbage collector's
    sight (gc.freeze): the interpreter's shutdown collects again and again while it
    tears the modules down, and with numpy, pymongo and the index loaded that was
    0.05-0.06 s of every command. Nothing is lost by it: the output streams are
    flushed, atexit handlers (logging's among them) run, and memory goes back with
    the process.

    numpy's OpenBLAS starts a thread per core at import, which spins a while: vahti
    does no linear algebra, and those threads took 0.1 s of CPU from every command
    (from the scan itself, on a busy machine). One is enough unless the user says
    otherwise."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    code = main()
    gc.freeze()
    sys.exit(code)


def _print_traceback() -> None:
    """--debug: the traceback as the log has it (its messages may hold a name or a value)."""
    from vahti.display import echo, error_text

    echo(error_text(traceback.format_exc()), err=True, nl=False)


if __name__ == "__main__":
    run()
