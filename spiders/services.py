"""What one crawl needs outside Scrapy, opened once per crawl: the configuration,
the key, storage, the watchlist index and scanner, the location redactor, the
route through Tor, and the run record.

It is a Scrapy extension (`EXTENSIONS` in `spiders/settings.py`) that puts
itself on the crawler as `crawler.vahti`, so the spider, the pipeline and the
middlewares share one set. Storage is only reached through `storage`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field, replace

from scrapy import signals
from scrapy.exceptions import NotConfigured

from matchers.engine import Scanner, ScanOptions
from matchers.locations import LocationRedactor
from matchers.sealed import ValidatorSeal
from spiders.sources import Source, load_sources, sources_path
from spiders.torctl import TorSettings, TorUnavailable, check_ready, open_tor, request_newnym
from storage import runs, watchlist
from storage.connection import Storage
from vahti.config import Config, load_config
from vahti.logs import RedactingFilter
from vahti.watchlist_cache import load_index
from vahti.wiring import load_key, open_db, tor_settings

log = logging.getLogger(__name__)


@dataclass
class CrawlTally(runs.RunStats):
    """A run's counters, updated from the reactor and the scan thread."""

    skipped_same_bytes: int = 0
    not_modified: int = 0
    truncated: int = 0
    newnym: int = 0
    listed: int = 0  # items a listing linked to (pastes)
    new_items: int = 0  # of those, not seen before
    pipeline_s: float = 0.0  # time spent scanning and storing (the scan thread)
    errors: Counter = field(default_factory=Counter)  # error kind -> count
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] += 1


class CrawlServices:
    """Shared by everything in one crawl; see the module docstring."""

    def __init__(self, crawler, cfg: Config, source: Source):
        self.crawler = crawler
        self.cfg = cfg
        self.source = source
        self.tally = CrawlTally()
        self.storage: Storage | None = None
        self.scanner: Scanner | None = None
        self.redactor: LocationRedactor | None = None
        self.validators: ValidatorSeal | None = None  # ETags are stored sealed
        self.watchlist_version = 0
        self.run_id = ""
        self.tor_error = ""
        self.tor: TorSettings | None = None  # set by ensure_tor; None for direct sources
        self.socks_address = crawler.settings.get("VAHTI_TOR_SOCKS") or ""
        self.max_page_bytes = int(source.max_page_bytes or cfg.get("crawl.max_page_bytes"))
        self._stack = ExitStack()

    @classmethod
    def from_crawler(cls, crawler):  # noqa: ANN001, ANN206
        cfg, source = cls.configured_source(crawler)
        _no_suffix_list_download()
        services = cls(crawler, cfg, source)
        crawler.vahti = services
        crawler.signals.connect(services.spider_closed, signal=signals.spider_closed)
        _redact_scrapy_logs()
        return services

    @classmethod
    def configured_source(cls, crawler) -> tuple[Config, Source]:  # noqa: ANN001
        """The configuration and the crawl's source: the one named by the VAHTI_SOURCE
        setting in sources.toml (NotConfigured when this is no vahti source crawl)."""
        name = crawler.settings.get("VAHTI_SOURCE")
        if not name:
            raise NotConfigured("not a vahti source crawl")
        cfg = load_config(home_flag=crawler.settings.get("VAHTI_HOME") or None)
        sources = load_sources(sources_path(cfg.home))
        if name not in sources:
            raise NotConfigured(f"no source named {name!r} in {sources_path(cfg.home)}")
        return cfg, sources[name]

    # -- opened by the spider's start(), before any request ------------------------------

    def open(self) -> None:
        """Storage, key, index, scanner and the run record (blocking; called from a thread)."""
        key = load_key(self.cfg)
        self.storage = self._stack.enter_context(open_db(self.cfg, key))
        index = load_index(self.storage, key, self.cfg.home)
        self.watchlist_version = watchlist.version(self.storage)
        self.scanner = Scanner(index, key, ScanOptions(
            region=self.cfg.get("matchers.phone_region"),
            customer_id_pattern=self.cfg.get("matchers.customer_id_pattern") or None,
            retain=True,  # every page's keyed candidates, for retro-hunts (storage/candidates.py)
        ))
        self.redactor = LocationRedactor(key)
        self.validators = ValidatorSeal(key)
        self.run_id = runs.start_run(self.storage, self.source.name, "crawl",
                                     self.crawler.settings.get("VAHTI_RUN_ID") or "")
        log.info("crawl of %s started (run %s, watchlist version %d, %d people)",
                 self.source.name, self.run_id, self.watchlist_version, index.n_people)

    def stored_url(self, url: str) -> str:
        """The form a URL (or `URL!member`) is stored and looked up under: identifiers in
        it replaced by keyed tokens (matchers.locations), anything else unchanged."""
        assert self.redactor is not None, "services not opened"
        return self.redactor.redact(url)

    def ensure_tor(self) -> None:
        """The fail-closed gate: raises TorUnavailable unless Tor is reachable and
        bootstrapped. In launch mode the crawl starts (and later stops) its own tor."""
        if self.source.direct:
            log.warning("source %s is marked direct: its requests do not go through Tor",
                        self.source.name)
            return
        settings = tor_settings(self.cfg)
        if settings.mode == "launch":
            state = self._stack.enter_context(open_tor(settings))
        else:
            state = check_ready(settings)
        # NEWNYM goes to the control port of the tor actually in use
        self.tor = replace(settings, mode="external", socks_host=state.socks_host,
                           socks_port=state.socks_port, control_host=state.control_host,
                           control_port=state.control_port)
        self.socks_address = state.socks
        log.info("crawling %s through Tor at %s (%s mode, isolation group %s)",
                 self.source.name, state.socks, settings.mode, self.source.isolation_group)

    def new_identity(self) -> bool:
        """NEWNYM through the control port; False when tor's rate limit says wait."""
        if self.tor is None:
            return False
        try:
            return request_newnym(self.tor).sent
        except TorUnavailable as exc:
            log.warning("NEWNYM not sent: %s", exc)
            return False

    def tally_listing(self, links: int, new: int) -> None:
        with self.tally.lock:
            self.tally.listed += links
            self.tally.new_items += new

    def spider_closed(self, spider, reason: str) -> None:  # noqa: ANN001
        try:
            if self.storage is not None and self.run_id:
                t = self.tally
                if self.tor_error:
                    t.error("tor_unavailable")
                runs.finish_run(self.storage, self.run_id, t, state=_run_state(reason), extra={
                    "reason": reason, "not_modified": t.not_modified,
                    "same_bytes": t.skipped_same_bytes, "truncated": t.truncated,
                    "newnym": t.newnym, "direct": self.source.direct,
                    "listed": t.listed, "new_items": t.new_items,
                    "pipeline_s": round(t.pipeline_s, 3),
                    "isolation": self.source.isolation_group,
                })
        finally:
            self._stack.close()


def _run_state(reason: str) -> str:
    if reason == "finished":
        return "done"
    if reason in ("shutdown", "cancelled"):
        return "interrupted"
    return "failed"


def _redact_scrapy_logs() -> None:
    """Scrapy's own root handler (under `scrapy crawl`) gets vahti's redaction too."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def _no_suffix_list_download() -> None:
    """Scrapy's cookie middleware must not fetch the public-suffix list (a request
    outside Tor): its tldextract instance gets no URLs, whatever the import order."""
    from scrapy.downloadermiddlewares import cookies

    splitter = getattr(cookies, "_split_domain", None)
    if splitter is not None and getattr(splitter, "suffix_list_urls", ()):
        splitter.suffix_list_urls = ()
