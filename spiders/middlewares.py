"""Downloader middlewares and an extension of vahti's crawls.

- `PageSizeLimit`: a response is cut at the source's max page size (Scrapy
  itself would drop an oversized response whole); the pipeline marks it
  truncated. Disallowed content types are not downloaded at all.
- `DirectRouteGuard`: a direct source is never redirected to an onion or to a
  host that is not its own (the handler refuses onion names once more).
- `ConditionalGet`: If-None-Match / If-Modified-Since from the last visit; a
  304 comes back to the spider as "not modified".
- `NewIdentityOnBlock`: after `newnym_after` consecutive 403/429/503 answers,
  a NEWNYM through Tor's control port (rate-limited as tor requires) and new
  SOCKS credentials, so the retries leave on fresh circuits.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, StopDownload
from scrapy.http import Request, Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import threads

from vahti.spiders.hosts import host_of, never_direct
from vahti.spiders.pipeline import content_type_allowed
from vahti.spiders.sources import URL_OPTIONS
from vahti.spiders.tor_handler import NeverDirect, tor_newnym
from vahti.storage import pages

log = logging.getLogger(__name__)

BLOCKING_STATUSES = (403, 429, 503)


class PageSizeLimit:
    def __init__(self, crawler):  # noqa: ANN001
        self.crawler = crawler
        crawler.signals.connect(self.headers_received, signal=signals.headers_received)
        crawler.signals.connect(self.bytes_received, signal=signals.bytes_received)

    @classmethod
    def from_crawler(cls, crawler):  # noqa: ANN001, ANN206
        return cls(crawler)

    def headers_received(self, headers, body_length, request, spider) -> None:  # noqa: ANN001
        services = getattr(self.crawler, "vahti", None)
        if services is None:
            return
        ctype = (headers.get(b"Content-Type") or b"").decode("latin-1")
        if request.meta.get("vahti_any_type"):
            return  # link pages: HTML is always fetched
        if not content_type_allowed(ctype, services.source):
            request.meta["vahti_skipped_type"] = True
            raise StopDownload(fail=False)

    def bytes_received(self, data: bytes, request: Request, spider) -> None:  # noqa: ANN001
        services = getattr(self.crawler, "vahti", None)
        if services is None:
            return
        limit = request.meta.get("vahti_max_bytes") or services.max_page_bytes
        got = request.meta.get("vahti_bytes", 0) + len(data)
        request.meta["vahti_bytes"] = got
        if limit and got >= limit:
            request.meta["vahti_truncated"] = True
            raise StopDownload(fail=False)


class RefusedRedirect(IgnoreRequest):
    kind = "refused_redirect"
    cause = "redirect from a direct source to another host"


class DirectRouteGuard:
    """A direct source's requests go to its own hosts only, and never to an onion.

    A redirect (HTTP 30x or a meta refresh) can point anywhere; for a direct source
    every hop is a direct connection, so a redirect to an onion (or `.exit`, `.i2p`)
    name, in any spelling, or to a host that is not one of the source's own, is
    refused here, recorded in the run's errors and logged, and nothing is resolved.
    The download handler refuses special-use names once more where it connects.
    """

    def __init__(self, crawler):  # noqa: ANN001
        self.crawler = crawler
        self._own_hosts: set[str] | None = None

    @classmethod
    def from_crawler(cls, crawler):  # noqa: ANN001, ANN206
        return cls(crawler)

    def own_hosts(self, source) -> set[str]:  # noqa: ANN001
        """The hosts of the source's URLs and of its URL options (login, raw pastes)."""
        if self._own_hosts is None:
            hosts = {host_of(url) for url in source.urls}
            for key in URL_OPTIONS:
                template = source.options.get(key)
                for url in source.urls if template else ():
                    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
                    hosts.add(host_of(template.format(origin=origin, id="x")))
            self._own_hosts = hosts
        return self._own_hosts

    def process_request(self, request: Request) -> None:
        services = getattr(self.crawler, "vahti", None)
        if services is None or not services.source.direct:
            return None
        came_from = request.meta.get("redirect_urls") or ()
        host = host_of(request.url)
        suffix = never_direct(host)
        if suffix:
            log.warning("refused: a direct source is redirected to an %s host; nothing was "
                        "resolved or sent (from %s)" if came_from else
                        "refused: a direct source would fetch an %s host; nothing was "
                        "resolved or sent (%s)", suffix,
                        services.stored_url(came_from[-1] if came_from else request.url))
            raise NeverDirect(suffix, redirected=bool(came_from))
        if came_from and host not in self.own_hosts(services.source):
            log.warning("refused: a direct source is redirected to another host; not "
                        "fetched (from %s)", services.stored_url(came_from[-1]))
            raise RefusedRedirect()
        return None


class ConditionalGet:
    """Validators from the page record of the last visit (non-final pages only)."""

    def __init__(self, crawler):  # noqa: ANN001
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):  # noqa: ANN001, ANN206
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        services = getattr(self.crawler, "vahti", None)
        if services is None or services.storage is None or not request.meta.get("conditional"):
            return None
        known = pages.page(services.storage, services.stored_url(request.url))
        if not known or known.get("watchlist_version") != services.watchlist_version:
            return None  # the watchlist changed since: fetch and scan it whole
        etag = services.validators.open(known.get("etag") or "")  # stored sealed
        if etag:
            request.headers.setdefault(b"If-None-Match", etag)
        if known.get("last_modified"):
            request.headers.setdefault(b"If-Modified-Since", known["last_modified"])
        handled = set(request.meta.get("handle_httpstatus_list", ())) | {304}
        request.meta["handle_httpstatus_list"] = sorted(handled)
        return None


class NewIdentityOnBlock:
    def __init__(self, crawler):  # noqa: ANN001
        self.crawler = crawler
        self.after = max(1, crawler.settings.getint("VAHTI_NEWNYM_AFTER", 3))
        self.blocked_in_a_row = 0
        self.pending = False

    @classmethod
    def from_crawler(cls, crawler):  # noqa: ANN001, ANN206
        return cls(crawler)

    async def process_response(self, request: Request, response: Response) -> Response:
        services = getattr(self.crawler, "vahti", None)
        if services is None or services.source.direct:
            return response
        if response.status not in BLOCKING_STATUSES:
            self.blocked_in_a_row = 0
            return response
        self.blocked_in_a_row += 1
        if self.blocked_in_a_row >= self.after and not self.pending:
            self.pending = True
            try:
                sent = await maybe_deferred_to_future(threads.deferToThread(services.new_identity))
            finally:
                self.pending = False
            if sent:
                self.blocked_in_a_row = 0
                with services.tally.lock:
                    services.tally.newnym += 1
                self.crawler.signals.send_catch_log(signal=tor_newnym)
                log.info("%s answered %d: new Tor identity requested",
                         services.stored_url(request.url), response.status)
        return response
