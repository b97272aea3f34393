"""A leak forum behind a login.

    GET  /login            the login form: username, password, a hidden `csrf` token
    POST /login            right credentials and token: cookie `sid`, 303 to /;
                           wrong credentials: 200, the form again with an error;
                           a missing or unknown token: 403, the form again
    GET  /logout           ends the session, 302 to /login
    GET  /                 the boards: <a href="/board/SLUG">
    GET  /board/SLUG       threads, most recently active first, 10 a page (?page=N),
                           each row <tr class="thread" data-last-post="N"> with
                           <a href="/thread/ID">title</a>; <a rel="next"> to the next page
    GET  /thread/ID        posts, oldest first, 10 a page (?page=N), each
                           <div class="post" id="post-N">; rel="next"/"prev" links

Every page but /login answers 302 to /login without a valid session. A
session ends after `session_requests` page requests or `session_seconds`
seconds (both unlimited by default), so a crawler has to notice the redirect
and log in again. The CSRF token of a form is good for one POST, like most
forum software. As on real forums, the index has a logout link: a crawler
that follows every link logs itself out.

Thread and post IDs are integers; post IDs are global and increase, so a
crawler can resume a thread from the last post it saw (`data-last-post`).
"""

from __future__ import annotations

import html
import random
import threading
import time
from dataclasses import dataclass, field

from vahti.demo.sites.base import (
    Request,
    Response,
    SiteServer,
    html_response,
    method_not_allowed,
    not_found,
    page,
    redirect,
)

HANDLES = ("d4rkm0de", "n0names", "leakmaster", "sp1der", "0xdeadbeef", "kuutamo", "varjo",
           "ghost_fi", "tuonela", "route66", "pastor_x", "hexhex")


@dataclass
class Post:
    id: int
    thread_id: int
    author: str
    text: str
    at: float


@dataclass
class Thread:
    id: int
    board: str
    title: str
    author: str
    posts: list[Post] = field(default_factory=list)

    @property
    def last_post_id(self) -> int:
        return self.posts[-1].id


@dataclass
class Board:
    slug: str
    title: str
    threads: list[int] = field(default_factory=list)


@dataclass
class _Session:
    created: float
    requests: int = 0


class ForumSite(SiteServer):
    """A forum on 127.0.0.1 that needs a login (`username`, `password`).

    `session_requests` / `session_seconds` bound a session's life (None: no
    bound); `per_page` is the page size of boards and threads; `seed` fixes
    tokens, session IDs and post authors."""

    def __init__(self, username: str = "analyst", password: str = "correct horse", *,
                 session_requests: int | None = None, session_seconds: float | None = None,
                 per_page: int = 10, seed: int = 0, slow_ms: int = 0, port: int = 0):
        self.username = username
        self.password = password
        self.session_requests = session_requests
        self.session_seconds = session_seconds
        self.per_page = per_page
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._boards: dict[str, Board] = {}
        self._threads: dict[int, Thread] = {}
        self._next_thread = 1
        self._next_post = 1
        self._tokens: set[str] = set()
        self._sessions: dict[str, _Session] = {}
        self._logins = 0
        self._failed_logins = 0
        self._expired = 0
        super().__init__(port=port, slow_ms=slow_ms)

    # -- content ---------------------------------------------------------------

    def add_board(self, slug: str, title: str) -> None:
        with self._lock:
            if slug in self._boards:
                raise ValueError(f"board {slug!r} exists")
            self._boards[slug] = Board(slug, title)

    def add_thread(self, board: str, title: str, posts: list[str]) -> int:
        """A new thread with `posts` (at least the opening post); returns its ID."""
        if not posts:
            raise ValueError("a thread starts with a post")
        with self._lock:
            tid = self._next_thread
            self._next_thread += 1
            thread = Thread(tid, board, title, self._rng.choice(HANDLES))
            self._boards[board].threads.append(tid)
            self._threads[tid] = thread
            thread.posts.append(self._new_post(tid, posts[0], thread.author))
            for text in posts[1:]:
                thread.posts.append(self._new_post(tid, text))
        return tid

    def add_post(self, thread_id: int, text: str) -> int:
        """A reply at the end of a thread (which moves to the top of its board); returns its ID."""
        with self._lock:
            post = self._new_post(thread_id, text)
            self._threads[thread_id].posts.append(post)
        return post.id

    def _new_post(self, thread_id: int, text: str, author: str | None = None) -> Post:
        pid = self._next_post
        self._next_post += 1
        return Post(pid, thread_id, author or self._rng.choice(HANDLES), text, time.time())

    def thread(self, thread_id: int) -> Thread:
        with self._lock:
            return self._threads[thread_id]

    def thread_ids(self, board: str | None = None) -> list[int]:
        with self._lock:
            return [t.id for t in self._threads.values() if board in (None, t.board)]

    # -- what happened -------------------------------------------------------------

    @property
    def login_count(self) -> int:
        """Successful logins so far."""
        with self._lock:
            return self._logins

    @property
    def failed_logins(self) -> int:
        """POSTs to /login refused for wrong credentials or a bad token."""
        with self._lock:
            return self._failed_logins

    @property
    def expired_sessions(self) -> int:
        """Sessions that ended by `session_requests` / `session_seconds`."""
        with self._lock:
            return self._expired

    def expire_sessions(self) -> None:
        """End every session now, as a forum restart or a ban wave does."""
        with self._lock:
            self._expired += len(self._sessions)
            self._sessions.clear()

    # `served` (from SiteServer) records which pages were fetched: target -> count of 200s.

    # -- HTTP ------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = request.path
        if path == "/login":
            if request.method == "POST":
                return self._login(request)
            if request.method in ("GET", "HEAD"):
                return self._login_form()
            return method_not_allowed("GET, HEAD, POST")
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed()
        sid = request.cookies.get("sid")
        if not self._session_ok(sid):
            # An unknown or ended session: drop the browser's cookie too.
            clear = [("Set-Cookie", "sid=; Path=/; HttpOnly; Max-Age=0")] if sid else []
            return redirect("/login", 302, clear)
        if path == "/logout":
            with self._lock:
                self._sessions.pop(sid, None)
            return redirect("/login", 302, [("Set-Cookie", "sid=; Path=/; HttpOnly; Max-Age=0")])
        if path == "/":
            return self._index()
        kind, _, key = path.lstrip("/").partition("/")
        number = _page_number(request)
        if number is None:
            return not_found()
        if kind == "board":
            return self._board(key, number)
        if kind == "thread" and key.isdigit():
            return self._thread_page(int(key), number)
        return not_found()

    def _session_ok(self, sid: str | None) -> bool:
        """Count this request against the session; False if there is none (any more)."""
        if not sid:
            return False
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return False
            too_many = (self.session_requests is not None
                        and session.requests >= self.session_requests)
            too_old = (self.session_seconds is not None
                       and time.time() - session.created > self.session_seconds)
            if too_many or too_old:
                del self._sessions[sid]
                self._expired += 1
                return False
            session.requests += 1
            return True

    def _login_form(self, error: str = "", status: int = 200) -> Response:
        with self._lock:
            token = f"{self._rng.getrandbits(128):032x}"
            self._tokens.add(token)
        message = f'<p class="error">{html.escape(error)}</p>\n' if error else ""
        body = (f"<h1>Log in</h1>\n{message}"
                f'<form method="post" action="/login">\n'
                f'<input type="hidden" name="csrf" value="{token}">\n'
                f'<label>Username <input type="text" name="username"></label>\n'
                f'<label>Password <input type="password" name="password"></label>\n'
                f'<button type="submit">Log in</button>\n</form>')
        return html_response(page("Log in", body), status)

    def _login(self, request: Request) -> Response:
        form = request.form()
        with self._lock:
            token_ok = form.get("csrf", "") in self._tokens
            self._tokens.discard(form.get("csrf", ""))  # one POST per token
            creds_ok = (form.get("username") == self.username
                        and form.get("password") == self.password)
            if not (token_ok and creds_ok):
                self._failed_logins += 1
        if not token_ok:
            return self._login_form("Your form has expired, please try again.", 403)
        if not creds_ok:
            return self._login_form("Invalid username or password.")
        with self._lock:
            sid = f"{self._rng.getrandbits(128):032x}"
            self._sessions[sid] = _Session(time.time())
            self._logins += 1
        return redirect("/", 303, [("Set-Cookie", f"sid={sid}; Path=/; HttpOnly; SameSite=Lax")])

    def _index(self) -> Response:
        with self._lock:
            rows = "\n".join(
                f'<tr class="board"><td><a href="/board/{b.slug}">{html.escape(b.title)}</a></td>'
                f"<td>{len(b.threads)} threads</td></tr>"
                for b in self._boards.values()
            )
        body = (f'<p>Logged in as {html.escape(self.username)} | <a href="/logout">Log out</a></p>'
                f'\n<h1>Boards</h1>\n<table class="boards">\n{rows}\n</table>')
        return html_response(page("Forum", body))

    def _board(self, slug: str, number: int) -> Response:
        with self._lock:
            board = self._boards.get(slug)
            if board is None:
                return not_found()
            # most recently active first, as forums list them
            threads = sorted((self._threads[t] for t in board.threads),
                             key=lambda t: t.last_post_id, reverse=True)
            rows = [(t.id, t.title, len(t.posts) - 1, t.last_post_id) for t in threads]
            title = board.title
        chunk, nav = _paginate(rows, number, self.per_page, f"/board/{slug}")
        if chunk is None:
            return not_found()
        lines = "\n".join(
            f'<tr class="thread" data-thread="{tid}" data-last-post="{last}">'
            f'<td><a href="/thread/{tid}">{html.escape(ttitle)}</a></td>'
            f"<td>{replies} replies</td></tr>"
            for tid, ttitle, replies, last in chunk
        )
        body = (f'<p><a href="/">Boards</a></p>\n<h1>{html.escape(title)}</h1>\n'
                f'<table class="threads">\n{lines}\n</table>\n{nav}')
        return html_response(page(title, body))

    def _thread_page(self, tid: int, number: int) -> Response:
        with self._lock:
            thread = self._threads.get(tid)
            if thread is None:
                return not_found()
            posts = list(thread.posts)
            title, board = thread.title, thread.board
        chunk, nav = _paginate(posts, number, self.per_page, f"/thread/{tid}")
        if chunk is None:
            return not_found()
        shown = "\n".join(
            f'<div class="post" id="post-{p.id}">\n'
            f'<div class="meta"><span class="author">{html.escape(p.author)}</span> '
            f'<time datetime="{_iso(p.at)}">{_iso(p.at)}</time> #{p.id}</div>\n'
            f'<div class="body">{html.escape(p.text).replace(chr(10), "<br>" + chr(10))}</div>\n'
            f"</div>"
            for p in chunk
        )
        body = (f'<p><a href="/">Boards</a> &raquo; <a href="/board/{board}">{board}</a></p>\n'
                f"<h1>{html.escape(title)}</h1>\n{shown}\n{nav}")
        return html_response(page(title, body))


def _page_number(request: Request) -> int | None:
    raw = request.query.get("page", "1")
    return int(raw) if raw.isdigit() and int(raw) >= 1 else None


def _paginate(items: list, number: int, per_page: int, base: str) -> tuple[list | None, str]:
    """The items of page `number` (None past the last page) and its navigation.
    Page 1's URL is `base` itself, so each page has exactly one URL."""
    pages = max(1, -(-len(items) // per_page))
    if number > pages:
        return None, ""
    links = []
    if number > 1:
        prev = base if number == 2 else f"{base}?page={number - 1}"
        links.append(f'<a rel="prev" href="{prev}">&laquo; prev</a>')
    links.append(f"<span>Page {number} of {pages}</span>")
    if number < pages:
        links.append(f'<a rel="next" href="{base}?page={number + 1}">next &raquo;</a>')
    start = (number - 1) * per_page
    return items[start:start + per_page], f'<nav class="pages">{" ".join(links)}</nav>'


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
