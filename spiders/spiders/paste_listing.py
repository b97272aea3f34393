"""`paste_listing`: a listing page links to pastes; the raw pastes are fetched.

Incremental: a raw paste is immutable, so once fetched whole it is marked final
and never fetched again; each run reads the listing (conditional GET) and
fetches only pastes it has not seen. Options (see `spiders.sources`):
`paste_link` (regex on link URLs, group 1 the paste id), `raw_url` (template
with `{origin}` and `{id}`), `listing_pages` (listing pages to follow).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from scrapy.http import Request, Response

from vahti.spiders.items import PageItem
from vahti.spiders.spiders.base import SourceSpider


class PasteListingSpider(SourceSpider):
    kind = "paste_listing"

    def first_requests(self) -> Iterator[Request]:
        for url in self.source.urls:
            # listings change all the time: always fetched, never conditional
            yield self.page_request(url, self.parse, conditional=False, links=True,
                                    listing_page=1, dont_filter=True)

    def parse(self, response: Response) -> Iterator[Request | PageItem]:
        yield self.item(response, kind="listing")
        paste_link = re.compile(self.source.option("paste_link"))
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(response.url))
        raw_urls = []
        for link in self.links(response, paste_link):
            paste_id = paste_link.search(link).group(1)
            raw_urls.append(self.source.option("raw_url").format(origin=origin, id=paste_id))
        new = self.unseen(raw_urls)
        self.services.tally_listing(len(raw_urls), len(new))
        for url in new:
            yield self.page_request(url, self.parse_paste, conditional=False)
        page = response.meta.get("listing_page", 1)
        if page < int(self.source.option("listing_pages")):
            for link in self.links(response, rf"[?&]page={page + 1}(?!\d)")[:1]:
                yield self.page_request(link, self.parse, conditional=False, links=True,
                                        listing_page=page + 1)

    def parse_paste(self, response: Response) -> Iterator[PageItem]:
        yield self.item(response, kind="paste", final=True)
