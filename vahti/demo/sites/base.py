"""The shared part of the test sites: a threaded HTTP server on 127.0.0.1 that
records what it saw.

A site subclasses `SiteServer` and implements `handle(request) -> Response`.
The base class runs the server thread (start/stop, or a context manager),
records every accepted TCP connection and every parsed request, and provides
the switches crawler tests need on any site: `block_next(n)` (answer the next
n requests with 429, as a site that starts blocking does) and `slow_ms` (delay
every response, for benchmarks and timeout tests).

    with MySite() as site:
        site.url("/x"), site.port, site.requests, site.connections, site.clear()

Nothing is printed: request logging is off, and an exception in `handle` is
answered with 500, logged through `logging` (pytest shows it with a failing
test) and kept in `site.errors`, so a test can assert the site saw no bug.
"""

from __future__ import annotations

import html
import logging
import socket
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("vahti.demo.sites")

MAX_BODY = 1 << 20  # request bodies are login forms; anything bigger is a client bug
# A client that drops the connection mid-response (a crawler truncating a big
# file, a test closing its session) is normal here, not an error to report.
DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class SeenConnection:
    peer: tuple[str, int]
    at: float


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str  # the request target as sent: path and query
    headers: dict[str, str]
    peer: tuple[str, int]
    at: float = field(default_factory=time.time)


@dataclass
class Request:
    """A parsed request as `handle` sees it."""

    method: str
    target: str  # path and query, as sent
    headers: Message
    body: bytes = b""

    @property
    def path(self) -> str:
        """The percent-decoded path, without query."""
        return unquote(urlsplit(self.target).path) or "/"

    @property
    def query(self) -> dict[str, str]:
        """Query parameters (the first value of each)."""
        return {k: v[0] for k, v in parse_qs(urlsplit(self.target).query).items()}

    @property
    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        for header in self.headers.get_all("Cookie") or ():
            try:
                jar.load(header)
            except CookieError:
                pass  # a malformed cookie header counts as no cookie, as browsers do
        return {name: morsel.value for name, morsel in jar.items()}

    def form(self) -> dict[str, str]:
        """An application/x-www-form-urlencoded body (the first value of each field)."""
        fields = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in fields.items()}


@dataclass
class Response:
    """What `handle` returns. `stream`, if given, replaces `body` and is sent
    chunk by chunk with `length` as Content-Length (so huge bodies never sit in
    memory); `content_type=None` sends no Content-Type."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = HTML
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Iterable[bytes] | None = None
    length: int | None = None


# -- response helpers -----------------------------------------------------------


def page(title: str, body_html: str) -> str:
    """A minimal but complete HTML document (the title is escaped, the body is not)."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title></head>\n<body>\n{body_html}\n</body></html>\n")


def html_response(document: str, status: int = 200,
                  headers: Iterable[tuple[str, str]] = ()) -> Response:
    return Response(status, document.encode("utf-8"), HTML, list(headers))


def text_response(text: str, status: int = 200,
                  headers: Iterable[tuple[str, str]] = ()) -> Response:
    return Response(status, text.encode("utf-8"), TEXT, list(headers))


def redirect(location: str, status: int = 302,
             headers: Iterable[tuple[str, str]] = ()) -> Response:
    # A short body as servers send one; clients must use Location, not the body.
    body = page("Redirect", f'<a href="{html.escape(location)}">{html.escape(location)}</a>')
    return Response(status, body.encode(), HTML, [("Location", location), *headers])


def not_found() -> Response:
    return html_response(page("404 Not Found", "<h1>404 Not Found</h1>"), 404)


def method_not_allowed(allow: str = "GET, HEAD") -> Response:
    return html_response(page("405 Method Not Allowed", "<h1>405 Method Not Allowed</h1>"),
                         405, [("Allow", allow)])


# -- the server -----------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Not True (the default): server_close() would then join every handler
    # thread, and a client holding a keep-alive connection open would hang stop().
    block_on_close = False
    site: SiteServer

    def verify_request(self, request, client_address) -> bool:
        # called for every accepted connection, before any byte is read
        self.site._record_connection(client_address)
        return True

    def process_request(self, request, client_address) -> None:
        self.site._track(request, True)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        self.site._track(request, False)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        # socketserver prints tracebacks to stderr; disconnects are normal here
        exc = sys.exc_info()[1]
        if not isinstance(exc, DISCONNECTS):
            log.error("test site %s: error on a connection from %s", self.site.url(),
                      client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 30  # an idle keep-alive connection ends after this many seconds

    def setup(self) -> None:
        super().setup()
        self.protocol_version = self.server.site.protocol
        # Headers and body go out in separate writes; without this, Nagle's
        # algorithm and delayed ACKs add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        return self.server.site.server_header

    def log_message(self, format, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve()

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
        except ValueError:
            return None
        if not 0 <= n <= MAX_BODY:
            return None
        return self.rfile.read(n)

    def _serve(self) -> None:
        site = self.server.site
        site._record_request(SeenRequest(self.command, self.path, dict(self.headers.items()),
                                         tuple(self.client_address)))
        body = self._read_body()
        if body is None:
            response = text_response("bad Content-Length\n", 400)
            self.close_connection = True
        else:
            response = site._dispatch(Request(self.command, self.path, self.headers, body))
        if site.slow_ms:
            time.sleep(site.slow_ms / 1000)
        site._record_status(self.path, response.status)
        try:
            self._send(response)
        except DISCONNECTS:
            self.close_connection = True

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        if response.content_type is not None:
            self.send_header("Content-Type", response.content_type)
        # 304 and 204 carry no body, hence no Content-Length (RFC 9110 8.6)
        bodiless = response.status in (204, 304) or 100 <= response.status < 200
        length = response.length if response.stream is not None else len(response.body)
        if not bodiless:
            self.send_header("Content-Length", str(length))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if bodiless or self.command == "HEAD":
            return
        if response.stream is None:
            self.wfile.write(response.body)
            return
        for chunk in response.stream:
            self.wfile.write(chunk)


class SiteServer:
    """HTTP server on 127.0.0.1 (a free port unless given), answering from a
    daemon thread with `handle`. Subclasses override `handle`."""

    protocol = "HTTP/1.1"  # keep-alive and Content-Length on every answer, like real sites
    server_header = "nginx"  # not "BaseHTTP/0.6 Python/3.11": nothing should key on that

    def __init__(self, *, port: int = 0, slow_ms: int = 0):
        self.slow_ms = slow_ms
        self._seen_lock = threading.Lock()
        self._connections: list[SeenConnection] = []
        self._requests: list[SeenRequest] = []
        self._statuses: Counter[tuple[str, int]] = Counter()
        self._errors: list[str] = []
        self._open: set[socket.socket] = set()
        self._block_left = 0
        self._block_status = 429
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.site = self
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    # what a subclass provides
    def handle(self, request: Request) -> Response:
        return not_found()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # switches
    def block_next(self, n: int, status: int = 429) -> None:
        """Answer the next `n` requests with `status` and `Retry-After: 1`, as a
        site does when it starts rate-limiting or blocking a client."""
        with self._seen_lock:
            self._block_left = n
            self._block_status = status

    @property
    def blocked_left(self) -> int:
        with self._seen_lock:
            return self._block_left

    def _dispatch(self, request: Request) -> Response:
        with self._seen_lock:
            if self._block_left > 0:
                self._block_left -= 1
                status = self._block_status
                return text_response(f"{status} blocked, slow down\n", status,
                                     [("Retry-After", "1")])
        try:
            return self.handle(request)
        except Exception:
            trace = traceback.format_exc()
            log.error("test site %s: %s %s failed\n%s", self.url(), request.method,
                      request.target, trace)
            with self._seen_lock:
                self._errors.append(trace)
            return text_response("500 internal server error\n", 500)

    # what the server saw
    def _record_connection(self, peer) -> None:
        with self._seen_lock:
            self._connections.append(SeenConnection(tuple(peer), time.time()))

    def _record_request(self, request: SeenRequest) -> None:
        with self._seen_lock:
            self._requests.append(request)

    def _record_status(self, target: str, status: int) -> None:
        with self._seen_lock:
            self._statuses[(target, status)] += 1

    def _track(self, sock: socket.socket, is_open: bool) -> None:
        with self._seen_lock:
            if is_open:
                self._open.add(sock)
            else:
                self._open.discard(sock)

    @property
    def connections(self) -> list[SeenConnection]:
        with self._seen_lock:
            return list(self._connections)

    @property
    def requests(self) -> list[SeenRequest]:
        with self._seen_lock:
            return list(self._requests)

    def paths(self, method: str | None = None) -> list[str]:
        """Request targets (path and query) in the order they arrived."""
        return [r.path for r in self.requests if method is None or r.method == method]

    @property
    def served(self) -> Counter[str]:
        """How often each target (path and query) was answered 200: what a
        client actually fetched, not counting redirects, 304s or blocks."""
        with self._seen_lock:
            counts: Counter[str] = Counter()
            for (target, status), n in self._statuses.items():
                if status == 200:
                    counts[target] += n
            return counts

    def statuses(self, target: str) -> Counter[int]:
        """The statuses `target` was answered with, and how often."""
        with self._seen_lock:
            return Counter({s: n for (t, s), n in self._statuses.items() if t == target})

    @property
    def errors(self) -> list[str]:
        """Tracebacks of exceptions in `handle` (each was answered 500)."""
        with self._seen_lock:
            return list(self._errors)

    def clear(self) -> None:
        """Forget what was seen so far (connections, requests, statuses, errors)."""
        with self._seen_lock:
            self._connections.clear()
            self._requests.clear()
            self._statuses.clear()
            self._errors.clear()

    # lifecycle
    def start(self) -> Self:
        # A short poll interval: stop() waits up to one interval for the loop to notice.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name=f"test-site-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        # End keep-alive connections a client left open, so their threads exit now.
        with self._seen_lock:
            still_open = list(self._open)
        for sock in still_open:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
