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
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.spidermiddlewares.httperror import HttpError

from vahti.config import Config, load_config
from vahti.logs import RedactingFilter
from vahti.matchers.engine import Scanner, ScanOptions
from vahti.matchers.locations import LocationRedactor
from vahti.matchers.redact import redact_locations_with
from vahti.matchers.sealed import ValidatorSeal
from vahti.spiders.socks5 import REPLIES, SocksError
from vahti.spiders.sources import Source, load_sources, sources_path
from vahti.spiders.torctl import TorSettings, TorUnavailable, check_ready, open_tor, request_newnym
from vahti.storage import runs, watchlist
from vahti.storage.connection import Storage
from vahti.watchlist_cache import load_index
from vahti.wiring import load_key, location_redactor, open_db, tor_settings

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
    answered: int = 0  # requests that got an HTTP answer, whatever its status
    http_failed: int = 0  # of those, answers the spider could not use (4xx, 5xx)
    # requests that got no answer: cause ("tor: host unreachable", "TimeoutError") -> count
    unanswered: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)  # requests vahti would not send
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] += 1

    @property
    def requests(self) -> int:
        """Requests that ended, answered or not (retries of one request count once)."""
        return self.answered + sum(self.unanswered.values()) + sum(self.refused.values())

    @property
    def failed_requests(self) -> int:
        return self.http_failed + sum(self.unanswered.values()) + sum(self.refused.values())

    @property
    def nothing_answered(self) -> bool:
        """Requests were made and not one got an answer: the crawl saw nothing at all."""
        return self.answered == 0 and self.requests > 0

    @property
    def degraded(self) -> bool:
        """Most requests failed, but not all went unanswered (then the crawl failed)."""
        return not self.nothing_answered and 2 * self.failed_requests > self.requests

    def no_answer_text(self) -> str:
        """"no request succeeded: 12 connection failures (tor: host unreachable)"."""
        parts = []
        for counts, what in ((self.unanswered, "connection failure"), (self.refused, "refused")):
            n = sum(counts.values())
            if n:
                label = what + ("s" if n != 1 and what != "refused" else "")
                causes = [cause if len(counts) == 1 else f"{cause} {k}"
                          for cause, k in counts.most_common()]
                parts.append(f"{n} {label} ({', '.join(causes)})")
        return "no request succeeded: " + "; ".join(parts)

    def degraded_text(self) -> str:
        return f"{self.failed_requests} of {self.requests} requests failed"


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
        self.state = ""  # the run's state once the spider closed: done, failed, ...
        self.failure = ""  # why a crawl that ran to its end failed anyway (one line)
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
        crawler.signals.connect(services.response_received, signal=signals.response_received)
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
        self.redactor = location_redactor(self.cfg, key, index)
        # Scrapy logs URLs (a failed fetch): enrolled phones and names in them too
        redact_locations_with(self.redactor.redact)
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

    # -- what became of the requests ------------------------------------------------------

    def response_received(self, response, request, spider) -> None:  # noqa: ANN001
        """Every answer that reaches the spider (a retried one is not: its retry is)."""
        with self.tally.lock:
            self.tally.answered += 1

    def request_failed(self, failure) -> str:  # noqa: ANN001
        """A request's errback: counts it as failed, answered (an HTTP error status) or
        not (by cause); returns the error kind for the run's error counts."""
        exc = failure.value
        tally = self.tally
        if isinstance(exc, HttpError):
            with tally.lock:
                tally.http_failed += 1
            return f"http_{exc.response.status}"
        with tally.lock:
            if isinstance(exc, IgnoreRequest):
                tally.refused[getattr(exc, "cause", "") or type(exc).__name__] += 1
            else:
                tally.unanswered[_no_answer_cause(exc)] += 1
        return getattr(exc, "kind", "") or type(exc).__name__

    def spider_closed(self, spider, reason: str) -> None:  # noqa: ANN001
        t = self.tally
        self.state = _run_state(reason)
        outcome: dict = {"reason": reason}
        if self.state == "done" and t.nothing_answered:
            self.state = "failed"
            self.failure = t.no_answer_text()
            outcome = {"reason": NO_ANSWER, "failure": self.failure}
            # info: the command that ran the crawl says it once, on its own line
            log.info("crawl of %s failed: %s", self.source.name, self.failure)
        elif t.degraded:
            log.warning("crawl of %s degraded: %s", self.source.name, t.degraded_text())
        try:
            if self.storage is not None and self.run_id:
                if self.tor_error:
                    t.error("tor_unavailable")
                runs.finish_run(self.storage, self.run_id, t, state=self.state, extra={
                    **outcome, "not_modified": t.not_modified,
                    "same_bytes": t.skipped_same_bytes, "truncated": t.truncated,
                    "newnym": t.newnym, "direct": self.source.direct,
                    "listed": t.listed, "new_items": t.new_items,
                    "pipeline_s": round(t.pipeline_s, 3),
                    "isolation": self.source.isolation_group,
                    "requests": t.requests, "failed_requests": t.failed_requests,
                    "degraded": t.degraded,
                })
        finally:
            self._stack.close()


# the reason of a crawl that ran to its end without a single answer
NO_ANSWER = "no_response"


def _no_answer_cause(exc: BaseException) -> str:
    """Why a request got no answer, without its host (a name may hold an identifier):
    tor's SOCKS reply ("tor: host unreachable"), else the error's type."""
    if isinstance(exc, SocksError):
        if exc.reply is not None:
            return "tor: " + REPLIES.get(exc.reply, f"error {exc.reply:#x}")
        return "tor: " + str(exc.args[0] if exc.args else exc).split(":", 1)[0]
    return type(exc).__name__


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
