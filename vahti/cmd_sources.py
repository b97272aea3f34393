"""`vahti sources add|list|remove|enable|disable|check`: the sources in $VAHTI_HOME/sources.toml.

Wiring only: definitions, validation and the file format live in `spiders.sources`.
No output here ever holds a credential: forums name where theirs are, nothing more.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from vahti.clictx import config_of, console
from vahti.config import Config
from vahti.display import echo, styled
from vahti.errors import VahtiError
from vahti.spiders.sources import (
    KINDS,
    Source,
    SourcesError,
    check_source,
    edit_sources,
    load_sources,
    parse_option,
    read_sources,
    sources_path,
)

log = logging.getLogger("vahti.sources")


@contextmanager
def _as_vahti_errors() -> Iterator[None]:
    try:
        yield
    except SourcesError as exc:
        raise VahtiError(str(exc)) from None
    except OSError as exc:
        raise VahtiError(f"{getattr(exc, 'filename', '') or 'sources'}: {exc.strerror}") from None


def _path(ctx: click.Context) -> Path:
    return sources_path(config_of(ctx).home)


def _transport(source: Source) -> str:
    return "direct" if source.direct else "tor"


def _describe(source: Source) -> str:
    n = len(source.urls)
    text = (f"{source.kind}, {n} URL{'s' if n != 1 else ''}, {source.schedule}, "
            f"{'direct (no Tor)' if source.direct else 'via Tor'}, "
            f"isolation group {source.isolation_group}"
            + ("" if source.enabled else ", disabled"))
    if source.kind == "forum" and source.option("login_url"):
        where = (f"${source.option('password_env')}" if source.option("password_env")
                 else f"file {source.option('password_file')}")
        text += f"; logs in as ${source.option('username_env')}, password from {where}"
    return text


@click.group("sources")
def sources_group() -> None:
    """Sources to crawl: paste listings, forums, sites, single URLs."""


@sources_group.command("add")
@click.argument("name")
@click.option("--kind", help=f"One of: {', '.join(KINDS)}.")
@click.option("--url", "urls", multiple=True,
              help="Start URL, http or https (repeat for more; kind url: exactly one).")
@click.option("--schedule", default="every 1h", show_default=True,
              help='"every 30m" (s, m, h, d) or a 5-field cron line (weekdays as names).')
@click.option("--direct", is_flag=True, help="Fetch without Tor (never for .onion).")
@click.option("--concurrency", type=int, help="Parallel requests (default: [crawl] concurrency).")
@click.option("--delay", "delay_s", type=float,
              help="Seconds between requests (default: [crawl] delay_s).")
@click.option("--isolation", default="", help="Tor stream-isolation group (default: the name).")
@click.option("--max-page-bytes", type=int, help="Largest page (default: [crawl] max_page_bytes).")
@click.option("--content-type", "content_types", multiple=True,
              help="Media types to fetch, like text/* (repeat; default: text, JSON, XML, "
                   "archives, spreadsheets, octet-stream).")
@click.option("--time-limit", "time_limit_s", type=float, default=3600.0, show_default=True,
              help="Seconds a crawl of this source may run.")
@click.option("--expect-new-within", default="",
              help='Duration like "1d" within which new pages are expected (source health).')
@click.option("--disabled", is_flag=True, help="Add it disabled.")
@click.option("--option", "option_args", multiple=True, metavar="KEY=VALUE",
              help="A kind-specific option (repeat); lists comma-separated.")
@click.option("--replace", "replace_existing", is_flag=True,
              help="Replace a source of the same name.")
@click.pass_context
def sources_add(ctx: click.Context, name: str, kind: str | None, urls: tuple[str, ...],
                schedule: str, direct: bool, concurrency: int | None, delay_s: float | None,
                isolation: str, max_page_bytes: int | None, content_types: tuple[str, ...],
                time_limit_s: float, expect_new_within: str, disabled: bool,
                option_args: tuple[str, ...], replace_existing: bool) -> None:
    """Add (or with --replace, redefine) the source NAME."""
    if not kind:
        raise VahtiError(f"--kind is needed: one of {', '.join(KINDS)}")
    if kind not in KINDS:
        raise VahtiError(f"--kind {kind!r} is not one of {', '.join(KINDS)}")
    path = _path(ctx)
    with _as_vahti_errors():
        options = dict(parse_option(kind, arg) for arg in option_args)
        extra: dict[str, Any] = {}
        if content_types:
            extra["content_types"] = content_types
        source = Source(
            name=name, kind=kind, urls=urls, schedule=schedule, enabled=not disabled,
            direct=direct, concurrency=concurrency, delay_s=delay_s, isolation=isolation,
            max_page_bytes=max_page_bytes, time_limit_s=time_limit_s,
            expect_new_within=expect_new_within, options=options, **extra,
        )
        with edit_sources(path) as sources:
            existed = name in sources
            if existed and not replace_existing:
                raise VahtiError(f"source {name} already exists in {path} "
                                 "(--replace to redefine it)")
            sources[name] = source
    verb = "replaced" if existed else "added"
    echo(f"{verb} source {name}: {_describe(source)}")
    echo(f"written to {path}")
    log.info("source %s %s", name, verb)
    for problem in check_source(source):
        log.warning("%s (the crawl fails until this is fixed; see `vahti sources check`)",
                    problem)


@sources_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def sources_list(ctx: click.Context, as_json: bool) -> None:
    """The sources, their kind, URLs, schedule and transport."""
    path = _path(ctx)
    with _as_vahti_errors():
        sources = load_sources(path)
    if as_json:
        echo(json.dumps([s.to_dict() for s in sources.values()], indent=2))
        return
    if not sources:
        echo(f"no sources in {path} (add one with `vahti sources add`)")
        return
    table = Table()
    for header in ("name", "kind", "urls", "schedule", "enabled", "via", "isolation"):
        table.add_column(header, overflow="fold", no_wrap=header != "urls")
    for s in sources.values():
        table.add_row(s.name, s.kind, "\n".join(s.urls), s.schedule,
                      "yes" if s.enabled else styled("no", "dim"), _transport(s),
                      s.isolation_group)
    console().print(table)


@sources_group.command("remove")
@click.argument("name")
@click.pass_context
def sources_remove(ctx: click.Context, name: str) -> None:
    """Remove the source NAME."""
    path = _path(ctx)
    with _as_vahti_errors(), edit_sources(path) as sources:
        if name not in sources:
            raise VahtiError(f"no source {name} in {path}")
        del sources[name]
    echo(f"removed source {name}")
    log.info("source %s removed", name)


def _set_enabled(ctx: click.Context, name: str, enabled: bool) -> None:
    path = _path(ctx)
    word = "enabled" if enabled else "disabled"
    with _as_vahti_errors(), edit_sources(path) as sources:
        if name not in sources:
            raise VahtiError(f"no source {name} in {path}")
        already = sources[name].enabled == enabled
        sources[name] = replace(sources[name], enabled=enabled)
    echo(f"source {name} {'already ' if already else ''}{word}")
    if not already:
        log.info("source %s %s", name, word)


@sources_group.command("enable")
@click.argument("name")
@click.pass_context
def sources_enable(ctx: click.Context, name: str) -> None:
    """Enable the source NAME: the scheduler crawls it again."""
    _set_enabled(ctx, name, True)


@sources_group.command("disable")
@click.argument("name")
@click.pass_context
def sources_disable(ctx: click.Context, name: str) -> None:
    """Disable the source NAME: kept, but not crawled on its schedule."""
    _set_enabled(ctx, name, False)


# --- check ---------------------------------------------------------------------------------


@dataclass
class CheckRow:
    """One source in `vahti sources check`. Later checks (crawl health) add to `extra`."""

    name: str
    kind: str
    enabled: bool | None
    transport: str
    problems: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    source: Source | None = field(default=None, repr=False)  # None: the definition is bad

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def healthy(self) -> bool:
        return not (self.extra.get("health") or {}).get("unhealthy", False)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "enabled": self.enabled,
                "transport": self.transport, "ok": self.ok, "problems": self.problems,
                **self.extra}


def _definition_cell(row: CheckRow) -> Text:
    if row.ok:
        return styled("ok", "green")
    prefix = f"source {row.name}: "
    return styled("\n".join(p.removeprefix(prefix) for p in row.problems), "red")


def _health_of(row: CheckRow) -> dict[str, Any] | None:
    return row.extra.get("health")


def _age(when: str | None) -> str | Text:
    if not when:
        return styled("never", "dim")
    from vahti.scheduler.health import format_age

    seconds = (datetime.now(UTC) - datetime.fromisoformat(when)).total_seconds()
    return f"{format_age(seconds)} ago" if seconds >= 0 else when[:16].replace("T", " ")


def _last_run_cell(row: CheckRow) -> str | Text:
    health = _health_of(row) or {}
    if not health.get("last_run"):
        return styled("never", "dim")
    state = "running" if health["running"] else health["last_run_state"]
    return f"{_age(health['last_run'])} ({state})"


def _errors_cell(row: CheckRow) -> str:
    health = _health_of(row) or {}
    errors = health.get("errors") or {}
    if not errors:
        return "none" if health.get("runs_counted") else "-"
    return ", ".join(f"{kind} {n}" for kind, n in sorted(errors.items()))


def _health_cell(row: CheckRow) -> Text:
    health = _health_of(row) or {}
    verdict = health.get("verdict", "-")
    colour = ("red" if health.get("unhealthy") else "green" if verdict == "ok" else "dim")
    return styled(verdict, colour)


# (header, cell) per column of the check table: the definitions
CHECK_COLUMNS: list[tuple[str, Callable[[CheckRow], str | Text]]] = [
    ("source", lambda r: r.name),
    ("kind", lambda r: r.kind),
    ("enabled", lambda r: "?" if r.enabled is None else "yes" if r.enabled else "no"),
    ("transport", lambda r: r.transport),
    ("definition", _definition_cell),
]
# ... and of the health table below it, for the sources whose runs could be read
# (one table of both would fold every cell on an 80-column terminal)
HEALTH_COLUMNS: list[tuple[str, Callable[[CheckRow], str | Text]]] = [
    ("source", lambda r: r.name),
    ("last run", _last_run_cell),
    ("last success", lambda r: _age((_health_of(r) or {}).get("last_success"))),
    ("last new item", lambda r: _age((_health_of(r) or {}).get("last_new"))),
    ("errors, last runs", _errors_cell),
    ("health", _health_cell),
]


def _table(columns: list[tuple[str, Callable[[CheckRow], str | Text]]],
           rows: list[CheckRow]) -> Table:
    table = Table()
    for header, _ in columns:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(cell(row) for _, cell in columns))
    return table


def check_rows(path: Path, environ: dict[str, str] | None = None) -> list[CheckRow]:
    """Every source of the file with its problems: definition, credentials, secret files."""
    read = read_sources(path)
    environ = dict(os.environ) if environ is None else environ
    rows = []
    for name in read.names:
        source = read.sources.get(name)
        if source is None:
            rows.append(CheckRow(name, "?", None, "?", [read.problems[name]]))
            continue
        rows.append(CheckRow(name, source.kind, source.enabled, _transport(source),
                             check_source(source, environ), source=source))
    return rows


def add_health(cfg: Config, rows: list[CheckRow], now: datetime | None = None) -> str:
    """Put each valid source's health (from the run history) into its row's `extra`.

    Returns "" or, when the database cannot be read, a warning: the rows are left as
    definitions only.
    """
    sources = [row.source for row in rows if row.source is not None]
    if not sources:
        return ""
    from vahti.scheduler.health import evaluate, fail_after_setting
    from vahti.storage.errors import StorageError
    from vahti.wiring import open_db

    try:
        with open_db(cfg) as storage:
            healths = evaluate(storage, sources, now or datetime.now(UTC),
                               fail_after=fail_after_setting(cfg))
    except (StorageError, OSError) as exc:
        return f"source health not checked, the database cannot be read: {exc}"
    by_name = {h.source: h for h in healths}
    for row in rows:
        if row.name in by_name:
            row.extra["health"] = by_name[row.name].to_dict()
    return ""


@sources_group.command("check")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def sources_check(ctx: click.Context, as_json: bool) -> None:
    """Validate every source and judge its health from its runs; exit 1 when any source
    has a problem or is unhealthy (failing, stale, canary missing)."""
    path = _path(ctx)
    with _as_vahti_errors():
        rows = check_rows(path)
    warning = add_health(config_of(ctx), rows)
    if warning:
        log.warning("%s", warning)
    ok = all(row.ok for row in rows)
    healthy = all(row.healthy for row in rows)
    if as_json:
        echo(json.dumps({"path": str(path), "ok": ok and healthy,
                         "definitions_ok": ok, "healthy": healthy,
                         "health_checked": not warning and bool(rows),
                         "sources": [row.to_dict() for row in rows]}, indent=2))
    elif not rows:
        echo(f"no sources in {path}")
    else:
        console().print(_table(CHECK_COLUMNS, rows))
        judged = [row for row in rows if _health_of(row) is not None]
        if judged:
            console().print(_table(HEALTH_COLUMNS, judged))
            for row in judged:
                health = _health_of(row) or {}
                if health["verdict"] != "ok" or health.get("degraded"):
                    echo(f"{row.name}: {health['verdict']}: {health['reason']}")
        bad = sum(not row.ok for row in rows)
        unhealthy = sum(not row.healthy for row in rows)
        words = [f"{bad} with problems"] if bad else []
        words += [f"{unhealthy} unhealthy"] if unhealthy else []
        echo(f"{len(rows)} source{'s' if len(rows) != 1 else ''}, "
             + (", ".join(words) if words else "all ok"))
    for row in rows:
        for problem in row.problems:
            log.info("check: %s", problem)
        health = _health_of(row)
        if health and health["unhealthy"]:
            log.info("check: source %s is %s: %s", row.name, health["verdict"],
                     health["reason"])
    if not (ok and healthy):
        sys.exit(1)
