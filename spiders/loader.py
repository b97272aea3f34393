"""Scrapy's spider loader for vahti: the spiders are the sources in sources.toml.

`scrapy list` lists the sources and `scrapy crawl NAME` crawls one; each source
gets a spider class of its kind, named after it, with the source's settings
(`spiders.crawlsettings`) as its custom settings.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from scrapy.http import Request
from scrapy.utils.httpobj import urlparse_cached

from vahti.config import Config, load_config
from vahti.spiders.crawlsettings import source_settings
from vahti.spiders.sources import Source, load_sources, sources_path
from vahti.spiders.spiders.base import SourceSpider
from vahti.spiders.spiders.forum import ForumSpider
from vahti.spiders.spiders.paste_listing import PasteListingSpider
from vahti.spiders.spiders.site import SiteSpider
from vahti.spiders.spiders.url import UrlSpider

SPIDER_OF_KIND: dict[str, type[SourceSpider]] = {
    "paste_listing": PasteListingSpider,
    "forum": ForumSpider,
    "site": SiteSpider,
    "url": UrlSpider,
}


def spider_class(source: Source, cfg: Config) -> type[SourceSpider]:
    base = SPIDER_OF_KIND[source.kind]
    return type(f"{base.__name__}_{source.name}", (base,), {
        "name": source.name,
        "source": source,
        "custom_settings": source_settings(source, cfg),
    })


class SourceSpiderLoader:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.sources = load_sources(sources_path(cfg.home))

    @classmethod
    def from_settings(cls, settings):  # noqa: ANN001, ANN206
        return cls(load_config(home_flag=settings.get("VAHTI_HOME") or None))

    def load(self, spider_name: str) -> type[SourceSpider]:
        try:
            return spider_class(self.sources[spider_name], self.cfg)
        except KeyError:
            raise KeyError(f"Spider not found: {spider_name} (no such source in "
                           f"{sources_path(self.cfg.home)})") from None

    def list(self) -> list[str]:
        return sorted(self.sources)

    def find_by_request(self, request: Request) -> list[str]:
        host = urlparse_cached(request).netloc
        return [name for name, s in self.sources.items()
                if any(urlsplit(u).netloc == host for u in s.urls)]
