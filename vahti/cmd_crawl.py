"""`vahti crawl NAME`: run one source's crawl now, through Tor.

The same crawl as `scrapy crawl NAME` from the checkout (Scrapy's own
CrawlerProcess, the project's settings and spider loader), with vahti's
logging and exit codes: 0 nobody found, 1 enrolled people found, 2 the crawl
could not run (Tor unusable: nothing was fetched; a refused login; bad source) or
ran without a single request answered (every connection failed).
"""

from __future__ import annotations

import json
import sys

import click
from rich.table import Table
from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from vahti.clictx import config_of, console
from vahti.display import echo
from vahti.errors import VahtiError
from vahti.spiders import settings as project_settings
from vahti.spiders.commands.crawl import FAILED_REASONS
from vahti.spiders.loader import spider_class
from vahti.spiders.sources import SourcesError, load_sources, sources_path


def run_crawl(cfg, name: str, run_id: str = "") -> dict:  # noqa: ANN001
    """Crawl one source in this process; returns the run's summary."""
    try:
        sources = load_sources(sources_path(cfg.home))
    except SourcesError as exc:
        raise VahtiError(str(exc)) from None
    if name not in sources:
        raise VahtiError(f"no source named {name!r} (vahti sources list)")
    settings = Settings()
    settings.setmodule(project_settings, priority="project")
    settings.set("VAHTI_HOME", str(cfg.home), priority="cmdline")
    settings.set("VAHTI_RUN_ID", run_id, priority="cmdline")
    settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")  # vahti's redacting logs
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(spider_class(sources[name], cfg))
    process.crawl(crawler)
    process.start()
    reason = crawler.stats.get_value("finish_reason") if crawler.stats else None
    services = getattr(crawler, "vahti", None)
    if services is None:
        raise VahtiError(f"crawl of {name} did not start")
    t = services.tally
    return {
        "source": name, "run_id": services.run_id, "reason": reason or "unknown",
        "tor_error": services.tor_error, "pages": t.pages, "bytes": t.bytes, "hits": t.hits,
        "new_sightings": t.new_sightings, "not_modified": t.not_modified,
        "same_bytes": t.skipped_same_bytes, "truncated": t.truncated, "newnym": t.newnym,
        "listed": t.listed, "new_items": t.new_items, "errors": dict(t.errors),
        "pipeline_s": round(t.pipeline_s, 3),
        "via": "direct" if services.source.direct else "tor",
        "state": services.state, "failure": services.failure, "requests": t.requests,
        "failed_requests": t.failed_requests,
        "degraded": t.degraded_text() if t.degraded else "",
    }


@click.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="The run's summary as JSON.")
@click.option("--run-id", default="", hidden=True,
              help="Id for the run record (the daemon chooses it, to follow the child).")
@click.pass_context
def crawl(ctx: click.Context, name: str, as_json: bool, run_id: str) -> None:
    """Crawl the source NAME now (through Tor unless the source is direct).

    Exit 0 when nobody was found, 1 when enrolled people were, 2 when the crawl
    could not run (Tor not usable: nothing was fetched) or no request was answered.
    """
    summary = run_crawl(config_of(ctx), name, run_id)
    if summary["reason"] == "tor_unavailable":
        raise VahtiError(f"crawl of {name} stopped before any request, Tor is not usable: "
                         f"{summary['tor_error']}")
    if summary["reason"] in FAILED_REASONS:
        raise VahtiError(f"crawl of {name} failed: {summary['reason'].replace('_', ' ')}")
    if summary["failure"]:  # it ran, and not one request was answered
        raise VahtiError(f"crawl of {name} failed: {summary['failure']}")
    if as_json:
        echo(json.dumps(summary, sort_keys=True))
    else:
        _print_summary(summary)
    if summary["reason"] not in ("finished",):
        sys.exit(2)
    sys.exit(1 if summary["hits"] else 0)


def _print_summary(s: dict) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("source", f"{s['source']} (via {s['via']}), run {s['run_id']}")
    table.add_row("ended", s["reason"])
    table.add_row("pages", f"{s['pages']} scanned ({s['bytes'] / 1e6:.1f} MB), "
                           f"{s['not_modified']} not modified, {s['same_bytes']} unchanged, "
                           f"{s['truncated']} truncated")
    if s["listed"]:
        table.add_row("listing", f"{s['listed']} items listed, {s['new_items']} new")
    table.add_row("found", f"{s['hits']} hits, {s['new_sightings']} new sightings")
    if s["errors"]:
        table.add_row("errors", ", ".join(f"{k} {v}" for k, v in sorted(s["errors"].items())))
    if s["degraded"]:
        table.add_row("degraded", s["degraded"])
    if s["newnym"]:
        table.add_row("tor", f"{s['newnym']} new identities after blocking")
    console().print(table)
