"""`url`: one URL, fetched and scanned (what `vahti hunt URL` uses)."""

from __future__ import annotations

from collections.abc import Iterator

from scrapy.http import Response

from vahti.spiders.items import PageItem
from vahti.spiders.spiders.base import SourceSpider


class UrlSpider(SourceSpider):
    kind = "url"

    def first_requests(self):  # noqa: ANN201
        # conditional: a URL fetched again unchanged is not scanned again
        for url in self.source.urls:
            yield self.page_request(url, self.parse, dont_filter=True)

    def parse(self, response: Response) -> Iterator[PageItem]:
        yield self.item(response, kind="page")
