"""A tiny threaded HTTP server on 127.0.0.1 that stands in for a crawled site.

It serves fixed routes and records every TCP connection it accepted and every
request it parsed, so a test can assert both "the spider fetched X through the
onion" and, for fail-closed tests, "the server saw no connection at all".

    with TestSite({"/": "<html>hi</html>", "/dump.txt": (200, "text/plain", b"...")}) as site:
        site.port, site.url("/dump.txt"), site.connections, site.requests

The server thread and the recording live in `vahti.demo.sites.base`, shared with the
realistic paste, forum and leak sites of `vahti.demo.sites`.
"""

from __future__ import annotations

from vahti.demo.sites.base import Request, Response, SeenConnection, SeenRequest, SiteServer

__all__ = ["Route", "SeenConnection", "SeenRequest", "TestSite"]

# A route's value: a body (str or bytes, served 200 as text/html), or (status, type, body).
Route = str | bytes | tuple[int, str, str | bytes]


class TestSite(SiteServer):
    """HTTP server on 127.0.0.1 (a free port unless given), serving `routes` from a thread."""

    __test__ = False  # not a pytest test class despite the name
    protocol = "HTTP/1.0"  # one connection per request, as this site always did

    def __init__(self, routes: dict[str, Route] | None = None, port: int = 0):
        self.routes: dict[str, Route] = dict(routes or {})
        super().__init__(port=port)

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

    def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response(501, b"unsupported method\n", "text/plain")
        status, ctype, body = self.resolve(request.target.split("?", 1)[0])
        return Response(status, body, ctype)
