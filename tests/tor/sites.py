"""A tiny threaded HTTP server on 127.0.0.1 that stands in for a crawled site.

It serves fixed routes and records every TCP connection it accepted and every
request it parsed, so a test can assert both "the spider fetched X through the
onion" and, for fail-closed tests, "the server saw no connection at all".

    with TestSite({"/": "<html>hi</html>", "/dump.txt": (200, "text/plain", b"...")}) as site:
        site.port, site.url("/dump.txt"), site.connections, site.requests
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A route's value: a body (str or bytes, served 200 as text/html), or (status, type, body).
Route = str | bytes | tuple[int, str, str | bytes]


@dataclass(frozen=True)
class SeenConnection:
    peer: tuple[str, int]
    at: float


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    peer: tuple[str, int]
    at: float = field(default_factory=time.time)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: TestSite

    def verify_request(self, request, client_address) -> bool:
        # called for every accepted connection, before any byte is read
        self.site._record_connection(client_address)
        return True


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        site = self.server.site
        site._record_request(SeenRequest(self.command, self.path, dict(self.headers.items()),
                                         self.client_address))
        status, ctype, body = site.resolve(self.path.split("?", 1)[0])
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # keep test output quiet
        pass


class TestSite:
    """HTTP server on 127.0.0.1 (a free port unless given), serving `routes` from a thread."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, routes: dict[str, Route] | None = None, port: int = 0):
        self.routes: dict[str, Route] = dict(routes or {})
        self._lock = threading.Lock()
        self._connections: list[SeenConnection] = []
        self._requests: list[SeenRequest] = []
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.site = self
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    # routes
    def resolve(self, path: str) -> tuple[int, str, bytes]:
        route = self.routes.get(path)
        if route is None:
            return 404, "text/plain", b"not found\n"
        if isinstance(route, tuple):
            status, ctype, body = route
        else:
            status, ctype, body = 200, "text/html; charset=utf-8", route
        return status, ctype, body.encode() if isinstance(body, str) else body

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # what the server saw
    def _record_connection(self, peer) -> None:
        with self._lock:
            self._connections.append(SeenConnection(tuple(peer), time.time()))

    def _record_request(self, request: SeenRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def connections(self) -> list[SeenConnection]:
        with self._lock:
            return list(self._connections)

    @property
    def requests(self) -> list[SeenRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget what was seen so far (e.g. the readiness probes of the Tor network)."""
        with self._lock:
            self._connections.clear()
            self._requests.clear()

    # lifecycle
    def start(self) -> TestSite:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name=f"test-site-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> TestSite:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
