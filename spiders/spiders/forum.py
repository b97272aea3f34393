"""`forum`: a leak forum behind a login: boards -> threads -> pages of posts.

Login: the form at `login_url` is filled with credentials from the environment
variable or secret file the source names (never from sources.toml) and
submitted with its hidden fields (CSRF tokens). A page that shows we are
logged out (`logged_out_marker`, or a redirect to the login page) triggers a
new login and the request is repeated; the session cookie is Scrapy's.

Incremental by page: a thread page that links to a next page is full and will
not change, so it is marked final and never fetched again; a thread is resumed
at its last page that was not full.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from scrapy.exceptions import CloseSpider
from scrapy.http import FormRequest, Request, Response

from spiders.items import PageItem
from spiders.sources import resolve_credentials
from spiders.spiders.base import SourceSpider
from storage import pages

log = logging.getLogger(__name__)

PAGE_RE = re.compile(r"[?&]page=(\d+)")
NEXT_RE = re.compile(rb"""<a\b[^>]*\brel=["']?next["']?[^>]*>""", re.I)
MAX_LOGINS_IN_A_ROW = 3


def page_number(url: str) -> int:
    m = PAGE_RE.search(url)
    return int(m.group(1)) if m else 1


class ForumSpider(SourceSpider):
    kind = "forum"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.logins_in_a_row = 0
        self.logins = 0

    # -- login -------------------------------------------------------------------------

    def first_requests(self) -> Iterator[Request]:
        if self.source.option("login_url"):
            yield self.login_request(after=list(self.source.urls))
        else:
            yield from self.board_index_requests()

    def board_index_requests(self) -> Iterator[Request]:
        for url in self.source.urls:
            yield self.page_request(url, self.parse, links=True, conditional=False,
                                    dont_filter=True)

    def login_request(self, after: list[str | Request]) -> Request:
        self.logins_in_a_row += 1
        if self.logins_in_a_row > MAX_LOGINS_IN_A_ROW:
            raise CloseSpider("login_failed")
        return self.page_request(self.source.option("login_url"), self.fill_login,
                                 conditional=False, links=True, after=after, dont_filter=True)

    def fill_login(self, response: Response) -> Request:
        credentials = resolve_credentials(self.source)
        if credentials is None:
            raise CloseSpider("no_credentials")
        username, password = credentials
        formdata = {self.source.option("username_field"): username,
                    self.source.option("password_field"): password}
        return FormRequest.from_response(
            response, formdata=formdata, callback=self.logged_in, errback=self.fetch_failed,
            meta={"after": response.meta["after"], "vahti_any_type": True}, dont_filter=True)

    def logged_in(self, response: Response) -> Iterator[Request]:
        if self.logged_out(response):
            log.error("%s: login refused", self.source.name)
            self.services.tally.error("login_refused")
            raise CloseSpider("login_failed")
        self.logins += 1
        for after in response.meta["after"]:
            if isinstance(after, Request):
                yield after.replace(dont_filter=True)
            else:
                yield self.page_request(after, self.parse, links=True, conditional=False,
                                        dont_filter=True)

    def logged_out(self, response: Response) -> bool:
        login_path = urlsplit(self.source.option("login_url") or "").path
        if login_path and urlsplit(response.url).path == login_path:
            return True
        marker = self.source.option("logged_out_marker")
        return bool(marker) and re.search(marker.encode(), response.body) is not None

    def relogin_if_needed(self, response: Response) -> Request | None:
        """A request to log in again and then repeat this one, if we were logged out."""
        if not self.source.option("login_url") or not self.logged_out(response):
            self.logins_in_a_row = 0
            return None
        log.info("%s: session expired, logging in again", self.source.name)
        return self.login_request(after=[response.request])

    # -- boards, threads, posts ----------------------------------------------------------

    def parse(self, response: Response) -> Iterator[Request | PageItem]:
        """The board index: boards."""
        if again := self.relogin_if_needed(response):
            yield again
            return
        for url in self.links(response, self.source.option("board_link")):
            yield self.page_request(url, self.parse_board, links=True, conditional=False,
                                    board_page=1)

    def parse_board(self, response: Response) -> Iterator[Request | PageItem]:
        if again := self.relogin_if_needed(response):
            yield again
            return
        threads = [u for u in self.links(response, self.source.option("thread_link"))
                   if page_number(u) == 1]
        for thread in threads:
            yield self.page_request(self.resume_url(thread), self.parse_thread,
                                    dont_filter=True)
        page = response.meta.get("board_page", 1)
        if page < int(self.source.option("max_board_pages")):
            for url in self.next_links(response)[:1]:
                yield self.page_request(url, self.parse_board, links=True, conditional=False,
                                        board_page=page + 1)

    def resume_url(self, thread_url: str) -> str:
        """The thread's first page not known to be full (the last one seen, at most)."""
        known = pages.under(self.services.storage, thread_url)
        known = [p for p in known if p["url"].split("?")[0] == thread_url.split("?")[0]]
        if not known:
            return thread_url
        last = max(known, key=lambda p: page_number(p["url"]))
        return last["url"]

    def parse_thread(self, response: Response) -> Iterator[Request | PageItem]:
        if again := self.relogin_if_needed(response):
            yield again
            return
        following = self.next_links(response)
        yield self.item(response, kind="posts", final=bool(following))
        for url in following[:1]:
            yield self.page_request(url, self.parse_thread)

    def next_links(self, response: Response) -> list[str]:
        tags = b" ".join(NEXT_RE.findall(response.body))
        if not tags:
            return []
        fake = response.replace(body=tags)
        return self.links(fake)
