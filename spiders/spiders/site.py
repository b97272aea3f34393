"""`site`: a whole site (a leak site, a ransomware blog), recursively within its host.

HTML pages are scanned and their same-host links followed up to `depth`;
links to downloadable files (`file_extensions`: archives, CSV, SQL ...) are
fetched up to `max_file_bytes` (0: the source's max page size), scanned with
the archives expanded, and marked final: a file is never fetched twice.
Links leaving the host are never followed.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from scrapy.http import Request, Response

from vahti.spiders.items import PageItem
from vahti.spiders.spiders.base import SourceSpider

HTML_TYPES = ("text/html", "application/xhtml+xml")


class SiteSpider(SourceSpider):
    kind = "site"

    def first_requests(self) -> Iterator[Request]:
        for url in self.source.urls:
            yield self.page_request(url, self.parse, links=True, depth=0, dont_filter=True)

    def _is_file(self, url: str) -> bool:
        path = urlsplit(url).path.lower()
        return any(path.endswith(ext) for ext in self.source.option("file_extensions"))

    def parse(self, response: Response) -> Iterator[Request | PageItem]:
        ctype = response.headers.get(b"Content-Type", b"").decode("latin-1").lower()
        is_html = any(t in ctype for t in HTML_TYPES)
        yield self.item(response, kind="page" if is_html else "file", final=not is_html)
        depth = response.meta.get("depth", 0)
        if not is_html or response.status == 304 or depth >= int(self.source.option("depth")):
            return
        links = self.links(response, same_host=True)
        files = [u for u in links if self._is_file(u)]
        pages = [u for u in links if not self._is_file(u)]
        if self.source.option("follow_files"):
            max_file = int(self.source.option("max_file_bytes") or 0)
            new_files = self.unseen(files)
            self.services.tally_listing(len(files), len(new_files))
            for url in new_files:
                yield self.page_request(url, self.parse_file, conditional=False,
                                        vahti_max_bytes=max_file or None)
        for url in self.unseen(pages):  # a link that turned out to be a file is final
            yield self.page_request(url, self.parse, links=True)

    def parse_file(self, response: Response) -> Iterator[PageItem]:
        yield self.item(response, kind="file", final=True)
