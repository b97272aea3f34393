"""The Scrapy download handler that sends every request through Tor (SOCKS5h).

Set for http and https in `DOWNLOAD_HANDLERS` (see `spiders/settings.py`); every
other scheme is disabled there. It is Scrapy's own HTTP/1.1 handler with one
part swapped: the Twisted `Agent` gets an endpoint factory whose endpoints are
`Socks5ClientEndpoint`s to Tor's SocksPort, so the only TCP connection ever
made is to Tor, the host name goes to Tor unresolved, and the SOCKS username is
the source's isolation group (Tor puts streams with different credentials on
different circuits). HTTPS is TLS over that stream, with Scrapy's context
factory.

Fail closed: without `VAHTI_TOR_SOCKS` and without `VAHTI_DIRECT = True` every
request fails; a `proxy` in request meta is refused (an HTTP proxy would be a
way around Tor). `VAHTI_DIRECT` is only ever set from a source that says
`direct = true`; then Scrapy's stock agent is used, with one guard where it makes
its connection: a host that is an onion (or `.exit`, `.i2p`) name, in any
spelling (`spiders.hosts`), is refused before anything is resolved.

Relies on Scrapy 2.19 internals (`_ScrapyAgent` and its `_get_agent`), hence
the pin in pyproject.toml; `tests/unit/test_tor_handler.py` fails if an
upgrade routes a request any other way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from scrapy.core.downloader.handlers.http11 import (
    HTTP11DownloadHandler,
    _BindAddressAgent,
    _ScrapyAgent,
)
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.utils._download_handlers import normalize_bind_address, wrap_twisted_exceptions
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.endpoints import TCP4ClientEndpoint, wrapClientTLS
from twisted.web.client import Agent
from twisted.web.iweb import IAgentEndpointFactory, IPolicyForHTTPS
from zope.interface import implementer

from vahti.spiders.hosts import never_direct
from vahti.spiders.socks5 import Socks5ClientEndpoint
from vahti.spiders.torctl import TorConfigError, parse_host_port

log = logging.getLogger(__name__)

# Sent by the NEWNYM middleware; the handler then starts a new isolation epoch.
tor_newnym = object()


class TorRouteError(RuntimeError):
    """A request could not be routed through Tor, and so was not sent at all."""


class NeverDirect(IgnoreRequest):
    """A direct request to a name only Tor (or I2P) resolves: refused before any lookup.
    `kind` is its error kind in the run record, `cause` what the failure line says."""

    def __init__(self, suffix: str, redirected: bool = False):
        super().__init__(f"refused: .{suffix} names are never resolved locally, and this "
                         "request would have been made directly, without Tor")
        self.kind = f"refused_{suffix}"
        self.cause = (f"redirect from a direct source to an {suffix} host" if redirected
                      else f"direct connection to an {suffix} host")


@dataclass
class TorRoute:
    socks_host: str
    socks_port: int
    isolation: str  # SOCKS username: one Tor circuit family per isolation group
    epoch: int = 0  # SOCKS password: bumped after NEWNYM so no old circuit is reused

    @property
    def password(self) -> str:
        return f"nym{self.epoch}"


@implementer(IAgentEndpointFactory)
class TorEndpointFactory:
    """Endpoints for the Agent: SOCKS5h to Tor, TLS on top for https."""

    def __init__(self, reactor, route: TorRoute, tls_policy: IPolicyForHTTPS,
                 connect_timeout: float):
        self._reactor = reactor
        self._route = route
        self._tls_policy = tls_policy
        self._connect_timeout = connect_timeout

    def endpointForURI(self, uri):  # noqa: N802 (Twisted's interface)
        route = self._route
        to_tor = TCP4ClientEndpoint(self._reactor, route.socks_host, route.socks_port,
                                    timeout=self._connect_timeout)
        host = uri.host.decode("ascii") if isinstance(uri.host, bytes) else uri.host
        endpoint = Socks5ClientEndpoint(to_tor, host, uri.port,
                                        username=route.isolation, password=route.password)
        if uri.scheme == b"https":
            return wrapClientTLS(self._tls_policy.creatorForNetloc(uri.host, uri.port), endpoint)
        if uri.scheme != b"http":
            raise TorRouteError(f"scheme {uri.scheme!r} is not fetched through Tor")
        return endpoint


class _TorScrapyAgent(_ScrapyAgent):
    def __init__(self, *, route: TorRoute, **kwargs):
        super().__init__(**kwargs)
        self._route = route

    def _get_agent(self, request: Request, timeout: float) -> Agent:
        from twisted.internet import reactor

        factory = TorEndpointFactory(reactor, self._route, self._contextFactory, timeout)
        return Agent.usingEndpointFactory(reactor, factory, pool=self._pool)


class _DirectAgent(_BindAddressAgent):
    """Scrapy's stock agent for a direct source, with the last guard of "onion never
    direct": the endpoint (whose connect resolves the name) is only made for a host
    that is not a special-use name, however that is spelled (spiders.hosts)."""

    def _getEndpoint(self, uri):  # noqa: N802 (Twisted's name), ANN001, ANN202
        host = uri.host.decode("ascii", "replace") if isinstance(uri.host, bytes) else uri.host
        suffix = never_direct(host)
        if suffix:
            log.error("refused a direct connection to a .%s name: nothing was resolved "
                      "or sent", suffix)
            raise NeverDirect(suffix)
        return super()._getEndpoint(uri)


class _DirectScrapyAgent(_ScrapyAgent):
    def _get_agent(self, request: Request, timeout: float) -> Agent:
        from twisted.internet import reactor

        # what _ScrapyAgent._get_agent does without a proxy (download_request refuses one)
        bindaddress = normalize_bind_address(request.meta.get("bindaddress") or self._bindAddress)
        return _DirectAgent(reactor=reactor, contextFactory=self._contextFactory,
                            connectTimeout=timeout, bindAddress=bindaddress, pool=self._pool)


class TorDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 handler, connecting only through Tor's SocksPort.

    Settings: `VAHTI_TOR_SOCKS` ("HOST:PORT"), `VAHTI_TOR_ISOLATION` (the
    source's isolation group), or `VAHTI_DIRECT = True` for a source explicitly
    marked direct.
    """

    def __init__(self, crawler):
        super().__init__(crawler)
        settings = crawler.settings
        self._direct = settings.getbool("VAHTI_DIRECT")
        self._isolation = settings.get("VAHTI_TOR_ISOLATION") or "vahti"
        self._route: TorRoute | None = None
        crawler.signals.connect(self._new_identity, signal=tor_newnym)

    @property
    def route(self) -> TorRoute:
        """Tor's SocksPort: the crawl's own (a tor vahti launched) or VAHTI_TOR_SOCKS."""
        if self._route is None:
            services = getattr(self._crawler, "vahti", None)
            socks = (getattr(services, "socks_address", "")
                     or self._crawler.settings.get("VAHTI_TOR_SOCKS") or "")
            if not socks:
                raise TorRouteError("not fetched: no Tor SOCKS address (VAHTI_TOR_SOCKS); "
                                    "nothing falls back to direct")
            try:
                host, port = parse_host_port(socks, "VAHTI_TOR_SOCKS")
            except TorConfigError as exc:
                raise TorRouteError(f"not fetched: {exc}") from None
            self._route = TorRoute(host, port, self._isolation)
        return self._route

    def _new_identity(self) -> None:
        """After NEWNYM: new SOCKS credentials and no pooled connection on an old circuit."""
        if self._route is not None:
            self._route.epoch += 1
        self._pool.closeCachedConnections()

    async def download_request(self, request: Request) -> Response:
        if request.meta.get("proxy"):
            raise TorRouteError("request meta 'proxy' refused: vahti fetches only through Tor")
        if self._direct:
            agent = _DirectScrapyAgent(bindAddress=self._bind_address, **self._agent_arguments())
        else:
            agent = _TorScrapyAgent(route=self.route, **self._agent_arguments())
        with wrap_twisted_exceptions():
            return await maybe_deferred_to_future(agent.download_request(request))

    def _agent_arguments(self) -> dict:
        """What Scrapy's own handler gives its agent (HTTP11DownloadHandler.download_request)."""
        return dict(
            contextFactory=self._contextFactory,
            pool=self._pool,
            maxsize=self._default_maxsize,
            warnsize=self._default_warnsize,
            fail_on_dataloss=self._fail_on_dataloss,
            crawler=self._crawler,
            tls_verbose_logging=self._tls_verbose_logging,
        )
