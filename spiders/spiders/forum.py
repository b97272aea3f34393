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
from html.parser import HTMLParser
from urllib.parse import urlsplit

from scrapy.exceptions import CloseSpider
from scrapy.http import FormRequest, Request, Response

from vahti.matchers.locations import is_redacted
from vahti.spiders.items import PageItem
from vahti.spiders.sources import resolve_credentials
from vahti.spiders.spiders.base import SourceSpider
from vahti.storage import pages

log = logging.getLogger(__name__)

PAGE_RE = re.compile(r"[?&]page=(\d+)")
NEXT_RE = re.compile(rb"""<a\b[^>]*\brel=["']?next["']?[^>]*>""", re.I)
MAX_LOGINS = 50  # per crawl: a session that dies at every page is a failure
REPLAYED_META = ("conditional", "vahti_any_type", "board_page", "vahti_max_bytes")


def find_login_form(response: Response, password_field: str) -> tuple[str, dict[str, str]] | None:
    """The form holding the password field: its action URL and its other fields'
    values (hidden CSRF tokens included)."""
    parser = _Forms()
    parser.feed(response.text)
    for action, fields in parser.forms:
        if password_field in fields:
            return response.urljoin(action or response.url), fields
    return None


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs) -> None:  # noqa: ANN001
        a = dict(attrs)
        if tag == "form":
            self.forms.append((a.get("action") or "", {}))
        elif tag == "input" and self.forms and a.get("name"):
            if a.get("type", "text").lower() not in ("submit", "button", "image", "reset"):
                self.forms[-1][1][a["name"]] = a.get("value") or ""


def page_number(url: str) -> int:
    m = PAGE_RE.search(url)
    return int(m.group(1)) if m else 1


class ForumSpider(SourceSpider):
    kind = "forum"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.generation = 0  # one more at every successful login
        self.logging_in = False
        self.waiting: list[Request] = []  # requests that found us logged out, until login
        self.logins = 0
        self.seen_post: dict[str, int] = {}  # thread URL -> highest post id of earlier runs

    def page_request(self, url: str, callback, **kwargs) -> Request:  # noqa: ANN001
        """Stamped with the login generation it was sent under."""
        request = super().page_request(url, callback, **kwargs)
        request.meta["generation"] = self.generation
        return request

    # -- login -------------------------------------------------------------------------

    def first_requests(self) -> Iterator[Request]:
        if not self.source.option("login_url"):
            yield from self.board_index_requests()
            return
        self.waiting = list(self.board_index_requests())
        yield self.start_login()

    def board_index_requests(self) -> Iterator[Request]:
        for url in self.source.urls:
            yield self.page_request(url, self.parse, links=True, conditional=False,
                                    dont_filter=True)

    def start_login(self) -> Request | None:
        """The login page, unless a login is under way already (one at a time)."""
        if self.logging_in:
            return None
        if self.logins >= MAX_LOGINS:
            raise CloseSpider("login_failed")
        self.logging_in = True
        return self.page_request(self.source.option("login_url"), self.fill_login,
                                 conditional=False, links=True, dont_filter=True)

    def fill_login(self, response: Response) -> Request:
        credentials = resolve_credentials(self.source)
        if credentials is None:
            raise CloseSpider("no_credentials")
        form = find_login_form(response, self.source.option("password_field"))
        if form is None:
            log.error("%s: no login form at %s", self.source.name,
                      self.services.stored_url(response.url))
            raise CloseSpider("login_failed")
        action, fields = form
        username, password = credentials
        fields[self.source.option("username_field")] = username
        fields[self.source.option("password_field")] = password
        return FormRequest(action, formdata=fields, callback=self.logged_in,
                           errback=self.fetch_failed, meta={"vahti_any_type": True},
                           dont_filter=True)

    def logged_in(self, response: Response) -> Iterator[Request]:
        self.logging_in = False
        if self.logged_out(response):
            log.error("%s: login refused", self.source.name)
            self.services.tally.error("login_refused")
            raise CloseSpider("login_failed")
        self.logins += 1
        self.generation += 1
        waiting, self.waiting = self.waiting, []
        for request in waiting:
            yield self.replay(request)

    def logged_out(self, response: Response) -> bool:
        login_path = urlsplit(self.source.option("login_url") or "").path
        if login_path and urlsplit(response.url).path == login_path:
            return True
        marker = self.source.option("logged_out_marker")
        return bool(marker) and re.search(marker.encode(), response.body) is not None

    def replay(self, request: Request) -> Request:
        """The same request again, under the current session (vahti's meta only)."""
        meta = {k: v for k, v in request.meta.items() if k in REPLAYED_META}
        # a logged-out answer is usually a redirect to the login page: the URL we
        # wanted is the first one of the redirect chain
        url = request.meta.get("redirect_urls", [request.url])[0]
        return self.page_request(url, request.callback, dont_filter=True, **meta)

    def relogin_if_needed(self, response: Response) -> list[Request] | None:
        """None when the page is a real one; else what to do: log in (once) and repeat it."""
        if not self.source.option("login_url") or not self.logged_out(response):
            return None
        sent_under = response.request.meta.get("generation", 0)
        if sent_under < self.generation and not self.logging_in:
            return [self.replay(response.request)]  # sent before the last login
        log.info("%s: session expired, logging in again", self.source.name)
        self.waiting.append(response.request)
        login = self.start_login()
        return [login] if login is not None else []

    # -- boards, threads, posts ----------------------------------------------------------

    def parse(self, response: Response) -> Iterator[Request | PageItem]:
        """The board index: boards."""
        if (again := self.relogin_if_needed(response)) is not None:
            yield from again
            return
        for url in self.links(response, self.source.option("board_link")):
            yield self.page_request(url, self.parse_board, links=True, conditional=False,
                                    board_page=1)

    def parse_board(self, response: Response) -> Iterator[Request | PageItem]:
        if (again := self.relogin_if_needed(response)) is not None:
            yield from again
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
        """The thread's first page not known to be full (the last one seen, at most);
        remembers the highest post id seen in the thread, to count new posts."""
        thread = thread_url.split("?")[0]
        stored_thread = self.services.stored_url(thread)
        known = [p for p in pages.under(self.services.storage, stored_thread)
                 if p["url"].split("?")[0] == stored_thread]
        self.seen_post[thread] = max((p.get("max_item") or 0 for p in known), default=0)
        if not known:
            return thread_url
        last = max(known, key=lambda p: page_number(p["url"]))["url"]
        if not is_redacted(last):
            return last
        # An identifier in the URL was stored as a keyed token: the stored URL is no
        # address and must never be fetched. The live thread URL with the stored tail
        # ("?page=3") is the page if it redacts to exactly what was stored; otherwise
        # (the tail held the identifier) the thread is read again from its first page:
        # more requests (conditional GETs), but its pages' bytes are known, so nothing is
        # scanned or recorded twice.
        live = thread + last[len(stored_thread):]
        if not is_redacted(live) and self.services.stored_url(live) == last:
            return live
        return thread_url

    def parse_thread(self, response: Response) -> Iterator[Request | PageItem]:
        if (again := self.relogin_if_needed(response)) is not None:
            yield from again
            return
        following = self.next_links(response)
        item = self.item(response, kind="posts", final=bool(following))
        post_ids = [int(m) for m in re.findall(self.source.option("post_id").encode(),
                                                response.body)]
        if post_ids:
            seen = self.seen_post.get(response.url.split("?")[0], 0)
            self.services.tally_listing(len(post_ids), sum(1 for p in post_ids if p > seen))
            item.max_item = max(post_ids)
        yield item
        for url in following[:1]:
            yield self.page_request(url, self.parse_thread)

    def next_links(self, response: Response) -> list[str]:
        tags = b" ".join(NEXT_RE.findall(response.body))
        if not tags:
            return []
        fake = response.replace(body=tags)
        return self.links(fake)
