"""Ad hoc crawls: a source that is not in sources.toml (what `vahti hunt URL` fetches).

`CrawlServices` finds its source by name in sources.toml; an ad hoc crawl
carries its `Source` on the spider class instead (as `spiders.loader` sets it),
and `AdHocServices` takes it from there. Everything else is the ordinary crawl:
the same Tor gate (fail closed), download handler, middlewares and pipeline.

`hunt_source(url)` is the source of one hunted URL: kind `url`, through Tor
unless `direct` was asked for explicitly, its own Tor stream-isolation group
per host, and every content type accepted (the user pointed at this URL: the
scan's decoder judges what it is).
"""

from __future__ import annotations

import hashlib

from scrapy.exceptions import NotConfigured
from scrapy.http import Response

from spiders import services as crawl_services
from spiders.crawlsettings import source_settings
from spiders.hosts import host_of
from spiders.items import PageItem
from spiders.sources import Source
from spiders.spiders.url import UrlSpider
from vahti.config import load_config

HUNT_SOURCE = "hunt"
ADHOC_SETTING = "VAHTI_ADHOC"
# the extension that replaces CrawlServices in an ad hoc crawl's EXTENSIONS
EXTENSION = "spiders.adhoc.AdHocServices"


def hunt_source(url: str, direct: bool = False, name: str = HUNT_SOURCE) -> Source:
    """The transient source of one hunted URL (validated like any source)."""
    host = host_of(url)  # one group per host however it is spelled (X.onion. = x.onion)
    group = "hunt-" + hashlib.sha256(host.encode()).hexdigest()[:12]
    return Source(name=name, kind="url", urls=(url,), direct=direct, isolation=group,
                  content_types=("*/*",), schedule="every 1d", enabled=False)


class AdHocServices(crawl_services.CrawlServices):
    """CrawlServices for a source given on the spider class, not read from sources.toml."""

    def __init__(self, crawler, cfg, source):  # noqa: ANN001
        super().__init__(crawler, cfg, source)
        self.fetched: list[str] = []  # URLs of the responses that reached the pipeline

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
        item: PageItem = self.item(response, kind="page")
        yield item


def adhoc_spider_class(source: Source, cfg) -> type[HuntSpider]:  # noqa: ANN001
    """A HuntSpider for `source`, shaped like `spiders.loader.spider_class` makes them."""
    return type(f"HuntSpider_{source.name}", (HuntSpider,), {
        "name": source.name,
        "source": source,
        "custom_settings": {**source_settings(source, cfg), ADHOC_SETTING: True},
    })
