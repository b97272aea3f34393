"""A pastebin-like site.

    GET /             recent pastes, newest first, 20 a page (`/?page=N`, rel="next"/"prev")
    GET /paste/ID     the paste as HTML (escaped) with a link to /raw/ID
    GET /raw/ID       the raw bytes, text/plain; charset=utf-8 unless the paste says
                      otherwise, with ETag and Last-Modified; 304 to a matching
                      If-None-Match (or, without one, If-Modified-Since)

IDs are 8 random characters of [A-Za-z0-9] from a seeded generator, so a run
is reproducible. Pastes can be added, changed and removed while the site runs,
which is how "new pastes appear between runs" and "a paste was edited" are
tested; `raw_fetches` counts full downloads of each raw paste (304s are counted
in `raw_not_modified`), so a test can check that an unchanged paste is not
downloaded again.
"""

from __future__ import annotations

import hashlib
import html
import random
import string
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime

from vahti.demo.sites.base import (
    TEXT,
    Request,
    Response,
    SiteServer,
    html_response,
    method_not_allowed,
    not_found,
    page,
)

ID_ALPHABET = string.ascii_letters + string.digits
ID_LENGTH = 8


@dataclass
class Paste:
    id: str
    title: str
    data: bytes
    content_type: str
    created: float
    modified: float

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.data).hexdigest()[:24] + '"'

    @property
    def last_modified(self) -> str:
        return formatdate(self.modified, usegmt=True)

    def text(self) -> str:
        """The paste decoded for the HTML view, with the charset it is served with."""
        charset = "utf-8"
        for param in self.content_type.split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.data.decode(charset, "replace")
        except LookupError:
            return self.data.decode("utf-8", "replace")


class PasteSite(SiteServer):
    """A pastebin on 127.0.0.1. `seed` fixes the paste IDs; `slow_ms` delays
    every response; `per_page` is the listing's page size."""

    def __init__(self, *, seed: int = 0, per_page: int = 20, slow_ms: int = 0, port: int = 0):
        self.per_page = per_page
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._pastes: dict[str, Paste] = {}  # insertion order = age, oldest first
        self._raw_fetches: dict[str, int] = {}
        self._raw_not_modified: dict[str, int] = {}
        super().__init__(port=port, slow_ms=slow_ms)

    # -- content ---------------------------------------------------------------

    def add_paste(self, text: str | bytes, title: str | None = None,
                  content_type: str | None = None, created: float | None = None) -> str:
        """Publish a paste; returns its ID. `str` is served as UTF-8; give `bytes`
        with a `content_type` (e.g. "text/plain; charset=windows-1252") for others."""
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        when = time.time() if created is None else created
        with self._lock:
            while True:
                pid = "".join(self._rng.choices(ID_ALPHABET, k=ID_LENGTH))
                if pid not in self._pastes:
                    break
            self._pastes[pid] = Paste(pid, title or f"Untitled {len(self._pastes) + 1}", data,
                                      content_type or TEXT, when, when)
        return pid

    def update_paste(self, paste_id: str, text: str | bytes,
                     modified: float | None = None) -> None:
        """Change a paste's content: its ETag and Last-Modified change with it."""
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        with self._lock:
            paste = self._pastes[paste_id]
            paste.data = data
            # Last-Modified has one-second resolution: make sure it moves on.
            paste.modified = max(time.time() if modified is None else modified,
                                 int(paste.modified) + 1)

    def remove_paste(self, paste_id: str) -> None:
        """Take a paste down (its pages answer 404 from now on)."""
        with self._lock:
            del self._pastes[paste_id]

    def paste_ids(self) -> list[str]:
        """IDs of the pastes online, newest first (the listing's order)."""
        with self._lock:
            return list(reversed(self._pastes))

    def get_paste(self, paste_id: str) -> Paste:
        with self._lock:
            return self._pastes[paste_id]

    @property
    def raw_fetches(self) -> dict[str, int]:
        """Paste ID -> how many times its raw text was downloaded (answered 200)."""
        with self._lock:
            return dict(self._raw_fetches)

    @property
    def raw_not_modified(self) -> dict[str, int]:
        """Paste ID -> how many conditional requests for its raw text got 304."""
        with self._lock:
            return dict(self._raw_not_modified)

    # -- HTTP ------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed()
        path = request.path
        if path == "/":
            return self._listing(request)
        kind, _, pid = path.lstrip("/").partition("/")
        if kind in ("paste", "raw") and pid:
            with self._lock:
                paste = self._pastes.get(pid)
            if paste is None:
                return not_found()
            return self._paste_page(paste) if kind == "paste" else self._raw(request, paste)
        return not_found()

    def _listing(self, request: Request) -> Response:
        try:
            number = int(request.query.get("page", "1"))
        except ValueError:
            number = 0
        if number < 1:
            return html_response(page("400 Bad Request", "<h1>Bad page number</h1>"), 400)
        ids = self.paste_ids()
        pages = max(1, -(-len(ids) // self.per_page))
        if number > pages:
            return not_found()
        start = (number - 1) * self.per_page
        with self._lock:
            shown = [self._pastes[i] for i in ids[start:start + self.per_page]
                     if i in self._pastes]
        rows = "\n".join(
            f'<tr><td><a href="/paste/{p.id}">{html.escape(p.title)}</a></td>'
            f'<td><time datetime="{_iso(p.created)}">{_iso(p.created)}</time></td>'
            f"<td>{len(p.data)} bytes</td></tr>"
            for p in shown
        )
        nav = []
        if number > 1:
            prev = "/" if number == 2 else f"/?page={number - 1}"
            nav.append(f'<a rel="prev" href="{prev}">newer</a>')
        if number < pages:
            nav.append(f'<a rel="next" href="/?page={number + 1}">older</a>')
        body = (f"<h1>Recent pastes</h1>\n<p>Page {number} of {pages}</p>\n"
                f'<table class="pastes">\n<tr><th>Title</th><th>Posted</th><th>Size</th></tr>\n'
                f"{rows}\n</table>\n<nav>{' '.join(nav)}</nav>")
        return html_response(page("Recent pastes", body))

    def _paste_page(self, paste: Paste) -> Response:
        body = (f'<p><a href="/">Recent pastes</a></p>\n<h1>{html.escape(paste.title)}</h1>\n'
                f'<p class="meta">Posted <time datetime="{_iso(paste.created)}">'
                f"{_iso(paste.created)}</time>, {len(paste.data)} bytes, "
                f'<a href="/raw/{paste.id}">raw</a></p>\n'
                f'<pre class="paste">{html.escape(paste.text())}</pre>')
        return html_response(page(paste.title, body))

    def _raw(self, request: Request, paste: Paste) -> Response:
        validators = [("ETag", paste.etag), ("Last-Modified", paste.last_modified),
                      ("Cache-Control", "no-cache")]
        if _not_modified(request, paste):
            with self._lock:
                self._raw_not_modified[paste.id] = self._raw_not_modified.get(paste.id, 0) + 1
            return Response(304, b"", None, validators)
        if request.method == "GET":
            with self._lock:
                self._raw_fetches[paste.id] = self._raw_fetches.get(paste.id, 0) + 1
        return Response(200, paste.data, paste.content_type, validators)


def _not_modified(request: Request, paste: Paste) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present (weak comparison);
    If-Modified-Since is only looked at without it."""
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        tags = [t.strip() for t in inm.split(",")]
        return "*" in tags or paste.etag in (t.removeprefix("W/") for t in tags)
    ims = request.headers.get("If-Modified-Since")
    if ims is None:
        return False
    try:
        since = parsedate_to_datetime(ims).timestamp()
    except (TypeError, ValueError, IndexError):
        return False  # an unparsable date is ignored, as the RFC says
    return int(paste.modified) <= since


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
