"""The base of vahti's spiders: one spider class per source kind, one crawl per source.

`start()` first opens the crawl's services and passes the Tor gate (fail
closed: an unreachable or unbootstrapped tor closes the spider with reason
`tor_unavailable` before any request exists), then yields the kind's first
requests. Subclasses turn responses into `PageItem`s and further requests.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterable
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.exceptions import CloseSpider
from scrapy.http import Request, Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import threads

from vahti.spiders.items import PageItem
from vahti.spiders.services import CrawlServices
from vahti.spiders.sources import Source
from vahti.spiders.torctl import TorUnavailable
from vahti.storage import pages

log = logging.getLogger(__name__)

HREF_RE = re.compile(rb"""<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)


class SourceSpider(scrapy.Spider):
    """A crawl of one source; `source` is set on the class by `spiders.loader`."""

    source: Source

    @property
    def services(self) -> CrawlServices:
        return self.crawler.vahti

    async def start(self) -> AsyncIterator[Request]:
        services = self.services
        try:
            await maybe_deferred_to_future(threads.deferToThread(services.open))
            await maybe_deferred_to_future(threads.deferToThread(services.ensure_tor))
        except TorUnavailable as exc:
            services.tor_error = str(exc)
            log.error("Tor is not usable, nothing was fetched: %s", exc)
            raise CloseSpider("tor_unavailable") from None
        for request in self.first_requests():
            yield request

    def first_requests(self) -> Iterable[Request]:
        for url in self.source.urls:
            yield self.page_request(url, self.parse)

    # -- helpers for the kinds ------------------------------------------------------------

    def page_request(self, url: str, callback, *, conditional: bool = True,  # noqa: ANN001
                     links: bool = False, **meta) -> Request:
        """A GET; `links` marks a page fetched for its links (always allowed as HTML)."""
        meta = {"conditional": conditional, "vahti_any_type": links, **meta}
        return Request(url, callback=callback, errback=self.fetch_failed, meta=meta,
                       dont_filter=meta.pop("dont_filter", False))

    def unseen(self, urls: Iterable[str]) -> list[str]:
        """URLs not already fetched whole and final (raw pastes, full thread pages, files)."""
        stored = {u: self.services.stored_url(u) for u in urls}
        done = pages.final_urls(self.services.storage, stored.values())
        return [u for u, s in stored.items() if s not in done]

    def item(self, response: Response, kind: str = "page", final: bool = False) -> PageItem:
        headers = response.headers
        meta = response.meta
        not_modified = response.status == 304
        return PageItem(
            url=response.url, source=self.source.name, http_status=response.status,
            body=b"" if not_modified or meta.get("vahti_skipped_type") else response.body,
            content_type=_header(headers, b"Content-Type"),
            etag=_header(headers, b"ETag"), last_modified=_header(headers, b"Last-Modified"),
            truncated=bool(meta.get("vahti_truncated")), not_modified=not_modified,
            final=final and response.status == 200, kind=kind,
            limit=int(meta.get("vahti_max_bytes") or 0),
        )

    def links(self, response: Response, pattern: str | re.Pattern | None = None,
              same_host: bool = True) -> list[str]:
        """Absolute link targets in the page, optionally matching a regex."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        host = urlsplit(response.url).netloc
        out = []
        for m in HREF_RE.finditer(response.body):
            raw = (m.group(1) or m.group(2) or m.group(3) or b"").decode("utf-8", "replace")
            target = urljoin(response.url, raw.replace("&amp;", "&")).split("#", 1)[0]
            if urlsplit(target).scheme not in ("http", "https"):
                continue
            if same_host and urlsplit(target).netloc != host:
                continue
            if rx is not None and not rx.search(target):
                continue
            out.append(target)
        return list(dict.fromkeys(out))

    def fetch_failed(self, failure) -> None:  # noqa: ANN001
        kind = self.services.request_failed(failure)
        self.services.tally.error(kind)
        request = getattr(failure, "request", None)
        url = self.services.stored_url(request.url) if request is not None else "?"
        log.warning("fetch failed: %s (%s)", url, kind)


def _header(headers, name: bytes) -> str:  # noqa: ANN001
    value = headers.get(name)
    return value.decode("latin-1") if value else ""
