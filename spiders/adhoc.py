"""Ad hoc crawls: a source that is not in sources.toml (what `vahti hunt URL` fetches).

`CrawlServices` finds its source by name in sources.toml; an ad hoc crawl
carries its `Source` on the spider class instead (as `spiders.loader` sets it),
and `AdHocServices` takes it from there. Everything else is the ordinary crawl:
the same Tor gate (fail closed), download handler, middlewares and pipeline.

`hunt_source(url, key)` is the source of one hunted URL: kind `url`, through Tor
unless `direct` was asked for explicitly, its own Tor stream-isolation group
per host, and every content type accepted (the user pointed at this URL: the
scan's decoder judges what it is). The group is named by a keyed hash of the host:
it is stored in the run record and logged, and a host name can carry an
identifier (a person's name or code as a subdomain) that a plain hash would give
back to a guess.
"""

from __future__ import annotations

import hashlib
import hmac

from scrapy.exceptions import NotConfigured
from scrapy.http import Response

from vahti.config import load_config
from vahti.matchers.contentid import shareable_sha256
from vahti.matchers.keys import Key, derive_subkey
from vahti.spiders import services as crawl_services
from vahti.spiders.crawlsettings import source_settings
from vahti.spiders.hosts import host_of
from vahti.spiders.items import PageItem
from vahti.spiders.sources import Source
from vahti.spiders.spiders.url import UrlSpider

HUNT_SOURCE = "hunt"
ADHOC_SETTING = "VAHTI_ADHOC"
# the extension that replaces CrawlServices in an ad hoc crawl's EXTENSIONS
EXTENSION = "vahti.spiders.adhoc.AdHocServices"
# `vahti hunt --share-sha256`: keep the plain SHA-256 of large responses for printing
SHARE_SETTING = "VAHTI_SHARE_SHA256"


def hunt_source(url: str, key: Key, direct: bool = False, name: str = HUNT_SOURCE) -> Source:
    """The transient source of one hunted URL (validated like any source)."""
    host = host_of(url)  # one group per host however it is spelled (X.onion. = x.onion)
    mac = hmac.new(derive_subkey(key, "isolation"), host.encode(), hashlib.sha256)
    group = "hunt-" + mac.hexdigest()[:12]
    return Source(name=name, kind="url", urls=(url,), direct=direct, isolation=group,
                  content_types=("*/*",), schedule="every 1d", enabled=False)


class AdHocServices(crawl_services.CrawlServices):
    """CrawlServices for a source given on the spider class, not read from sources.toml."""

    def __init__(self, crawler, cfg, source):  # noqa: ANN001
        super().__init__(crawler, cfg, source)
        self.fetched: list[str] = []  # URLs of the responses that reached the pipeline
        # --share-sha256: URL -> (size, plain SHA-256 or "" when withheld); printed only
        self.shareable: dict[str, tuple[int, str]] = {}

    @classmethod
    def configured_source(cls, crawler):  # noqa: ANN001, ANN206
        source = getattr(crawler.spidercls, "source", None)
        if not crawler.settings.getbool(ADHOC_SETTING) or not isinstance(source, Source):
            raise NotConfigured("not an ad hoc crawl")
        return load_config(home_flag=crawler.settings.get("VAHTI_HOME") or None), source


class HuntSpider(UrlSpider):
    """The `url` kind, fetched now: unconditionally (no If-None-Match), so the answer
    is about the bytes there at this moment."""

    def first_requests(self):  # noqa: ANN201
        for url in self.source.urls:
            yield self.page_request(url, self.parse, conditional=False, dont_filter=True)

    def parse(self, response: Response):  # noqa: ANN201
        self.services.fetched.append(response.url)
        if self.settings.getbool(SHARE_SETTING):
            body = response.body
            self.services.shareable[response.url] = (
                len(body), shareable_sha256(len(body), hashlib.sha256(body).digest()))
        item: PageItem = self.item(response, kind="page")
        yield item


def adhoc_spider_class(source: Source, cfg) -> type[HuntSpider]:  # noqa: ANN001
    """A HuntSpider for `source`, shaped like `spiders.loader.spider_class` makes them."""
    return type(f"HuntSpider_{source.name}", (HuntSpider,), {
        "name": source.name,
        "source": source,
        "custom_settings": {**source_settings(source, cfg), ADHOC_SETTING: True},
    })
