"""A SOCKS5 client endpoint for Twisted that always lets the proxy resolve names.

Why our own: Scrapy has no SOCKS support, and txtorcon's SOCKS endpoint (the
obvious candidate) refuses a username/password, which is how Tor isolates
streams (IsolateSOCKSAuth, on by default). SOCKS5 with username/password is two
short RFCs (1928, 1929), so the whole client is this file.

The CONNECT request always carries the destination as a *domain name* (ATYP 3,
"SOCKS5h"): nothing is resolved locally, `.onion` names work, and the only TCP
connection this endpoint ever opens is the one to the proxy itself. Tor's
extended error codes (0xF0-0xF7, onion service failures) are named in errors.
"""

from __future__ import annotations

import struct

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectError
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

VERSION = 5
METHOD_NO_AUTH = 0x00
METHOD_USERNAME_PASSWORD = 0x02
METHOD_NONE_ACCEPTABLE = 0xFF
CMD_CONNECT = 0x01
ATYP_IPV4, ATYP_DOMAIN, ATYP_IPV6 = 0x01, 0x03, 0x04

REPLIES = {
    0x01: "general SOCKS server failure",
    0x02: "connection not allowed by ruleset",
    0x03: "network unreachable",
    0x04: "host unreachable",
    0x05: "connection refused",
    0x06: "TTL expired",
    0x07: "command not supported",
    0x08: "address type not supported",
    # Tor's ExtendedErrors (tor's socks-extensions.txt)
    0xF0: "onion service descriptor can not be found",
    0xF1: "onion service descriptor is invalid",
    0xF2: "onion service introduction failed",
    0xF3: "onion service rendezvous failed",
    0xF4: "onion service missing client authorization",
    0xF5: "onion service wrong client authorization",
    0xF6: "onion address is invalid",
    0xF7: "onion service introduction timed out",
}


class SocksError(ConnectError):
    """The proxy refused or broke the SOCKS handshake (a connection error to Scrapy)."""

    def __init__(self, message: str, reply: int | None = None):
        super().__init__(string=message)
        self.reply = reply

    def __str__(self) -> str:
        return f"SOCKS5: {self.args[0] if self.args else ''}{self.osError or ''}".strip()


def connect_request(host: str, port: int) -> bytes:
    """CONNECT to host:port with the name left for the proxy to resolve."""
    name = host.encode("idna") if not host.isascii() else host.encode("ascii")
    if not 0 < len(name) <= 255:
        raise SocksError(f"host name of {len(name)} bytes does not fit SOCKS5")
    return struct.pack("!BBBBB", VERSION, CMD_CONNECT, 0, ATYP_DOMAIN, len(name)) + name + \
        struct.pack("!H", port)


def auth_request(username: str, password: str) -> bytes:
    user, pw = username.encode(), password.encode()
    if not (0 < len(user) <= 255 and 0 < len(pw) <= 255):
        raise SocksError("SOCKS username and password must be 1-255 bytes")
    return bytes([1, len(user)]) + user + bytes([len(pw)]) + pw


def reply_length(buf: bytes) -> int | None:
    """Length of a complete CONNECT reply at the start of buf, or None if more is needed."""
    if len(buf) < 5:
        return None
    atyp = buf[3]
    if atyp == ATYP_IPV4:
        return 4 + 4 + 2
    if atyp == ATYP_IPV6:
        return 4 + 16 + 2
    if atyp == ATYP_DOMAIN:
        return 4 + 1 + buf[4] + 2
    raise SocksError(f"proxy replied with unknown address type {atyp:#x}")


class _Handshake(Protocol):
    """Speaks SOCKS5 on a fresh proxy connection, then hands it to the real protocol."""

    def __init__(self, endpoint: Socks5ClientEndpoint, factory: Factory, done: Deferred):
        self._endpoint = endpoint
        self._factory = factory
        self._done = done
        self._buf = b""
        self._state = "greeting"
        self._wrapped: Protocol | None = None

    def connectionMade(self) -> None:  # noqa: N802 (Twisted's naming)
        method = METHOD_USERNAME_PASSWORD if self._endpoint.username else METHOD_NO_AUTH
        self.transport.write(bytes([VERSION, 1, method]))

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        if self._wrapped is not None:
            self._wrapped.dataReceived(data)
            return
        self._buf += data
        try:
            self._advance()
        except SocksError as exc:
            self._fail(exc)

    def _advance(self) -> None:
        ep = self._endpoint
        if self._state == "greeting":
            if len(self._buf) < 2:
                return
            version, method = self._buf[0], self._buf[1]
            self._buf = self._buf[2:]
            if version != VERSION:
                raise SocksError(f"not a SOCKS5 proxy (version byte {version})")
            if method == METHOD_USERNAME_PASSWORD and ep.username:
                self._state = "auth"
                self.transport.write(auth_request(ep.username, ep.password or "x"))
            elif method == METHOD_NO_AUTH and not ep.username:
                self._send_connect()
            else:
                raise SocksError("proxy accepts none of the offered authentication methods")
        if self._state == "auth":
            if len(self._buf) < 2:
                return
            status = self._buf[1]
            self._buf = self._buf[2:]
            if status != 0:
                raise SocksError("proxy rejected the stream-isolation username/password")
            self._send_connect()
        if self._state == "connect":
            n = reply_length(self._buf)
            if n is None or len(self._buf) < n:
                return
            version, reply = self._buf[0], self._buf[1]
            rest = self._buf[n:]
            self._buf = b""
            if version != VERSION:
                raise SocksError(f"bad SOCKS5 reply version {version}")
            if reply != 0:
                reason = REPLIES.get(reply, f"error {reply:#x}")
                raise SocksError(f"{ep.host}:{ep.port}: {reason}", reply)
            self._connected(rest)

    def _send_connect(self) -> None:
        self._state = "connect"
        self.transport.write(connect_request(self._endpoint.host, self._endpoint.port))

    def _connected(self, rest: bytes) -> None:
        wrapped = self._factory.buildProtocol(self.transport.getPeer())
        if wrapped is None:
            self._fail(SocksError("protocol factory declined the connection"))
            return
        self._state = "open"
        self._wrapped = wrapped
        wrapped.makeConnection(self.transport)
        done, self._done = self._done, None
        done.callback(wrapped)
        if rest:
            wrapped.dataReceived(rest)

    def _fail(self, exc: Exception) -> None:
        self._state = "failed"
        if self._done is not None:
            done, self._done = self._done, None
            done.errback(Failure(exc))
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure) -> None:  # noqa: N802
        if self._wrapped is not None:
            self._wrapped.connectionLost(reason)
        elif self._done is not None:
            done, self._done = self._done, None
            done.errback(Failure(SocksError(
                f"proxy closed the connection during the SOCKS handshake ({self._state})")))


class _HandshakeFactory(Factory):
    noisy = False

    def __init__(self, endpoint: Socks5ClientEndpoint, factory: Factory, done: Deferred):
        self._args = (endpoint, factory, done)

    def buildProtocol(self, addr) -> _Handshake:  # noqa: N802
        return _Handshake(*self._args)


@implementer(IStreamClientEndpoint)
class Socks5ClientEndpoint:
    """Connect to host:port through the SOCKS5 proxy reached by `proxy_endpoint`.

    `username`/`password` select Tor's stream isolation: streams with different
    credentials never share a circuit.
    """

    def __init__(self, proxy_endpoint: IStreamClientEndpoint, host: str, port: int,
                 username: str | None = None, password: str | None = None):
        self.proxy_endpoint = proxy_endpoint
        self.host = host
        self.port = int(port)
        self.username = username
        self.password = password

    def connect(self, protocol_factory: Factory) -> Deferred:
        handshake: list[_Handshake] = []
        connecting: list[Deferred] = []

        def cancel(d: Deferred) -> None:
            # Scrapy cancels on download timeout: drop the proxy connection too
            for pending in connecting:
                if not pending.called:
                    pending.cancel()
            for proto in handshake:
                if proto.transport is not None:
                    proto.transport.abortConnection()

        done: Deferred = Deferred(cancel)
        factory = _HandshakeFactory(self, protocol_factory, done)
        connecting.append(self.proxy_endpoint.connect(factory))

        def connected(proto: _Handshake) -> None:
            handshake.append(proto)

        def failed(reason: Failure) -> None:
            if not done.called:
                done.errback(Failure(SocksError(
                    f"SOCKS proxy not reachable: {reason.getErrorMessage()}")))

        connecting[0].addCallbacks(connected, failed)
        return done
