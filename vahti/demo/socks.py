"""A tiny SOCKS5 client (RFC 1928/1929) and HTTP/1.0 GET, for probing the test network.

The hostname is always sent to the proxy (address type DOMAINNAME), so tor
resolves it: `.onion` works and nothing is resolved locally. The optional
username/password is what tor uses for stream isolation (IsolateSOCKSAuth).
Only the private network (its readiness probes) and the tests use this; vahti's
spiders have their own SOCKS path.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from vahti.spiders.socks5 import REPLIES  # RFC 1928 codes and tor's extended errors


class SocksError(OSError):
    """The proxy refused or failed the request; `reply` is the SOCKS reply code (or None)."""

    def __init__(self, message: str, reply: int | None = None):
        super().__init__(message)
        self.reply = reply


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise SocksError("proxy closed the connection during the SOCKS handshake")
        data += chunk
    return data


def socks5_connect(proxy_port: int, host: str, port: int, *, proxy_host: str = "127.0.0.1",
                   username: str | None = None, password: str = "",
                   timeout: float = 30) -> socket.socket:
    """A socket connected through the SOCKS5 proxy to host:port (name resolved by the proxy)."""
    sock = socket.create_connection((proxy_host, proxy_port), timeout=timeout)
    try:
        method = 0x02 if username is not None else 0x00  # username/password, or none
        sock.sendall(bytes([0x05, 0x01, method]))
        version, chosen = _recv_exact(sock, 2)
        if version != 0x05 or chosen != method:
            raise SocksError(f"proxy did not accept SOCKS5 method {method} (got {chosen})")
        if username is not None:
            user, pw = username.encode(), password.encode()
            sock.sendall(bytes([0x01, len(user)]) + user + bytes([len(pw)]) + pw)
            if _recv_exact(sock, 2)[1] != 0x00:
                raise SocksError("proxy rejected the SOCKS username/password")
        name = host.encode("idna")
        sock.sendall(bytes([0x05, 0x01, 0x00, 0x03, len(name)]) + name + struct.pack(">H", port))
        _version, reply, _rsv, atyp = _recv_exact(sock, 4)
        if reply != 0x00:
            raise SocksError(f"SOCKS reply {reply:#04x} for {host}:{port}: "
                             f"{REPLIES.get(reply, 'unknown error')}", reply)
        # skip the bound address the proxy reports
        addr_len = {0x01: 4, 0x04: 16}.get(atyp) or _recv_exact(sock, 1)[0]
        _recv_exact(sock, addr_len + 2)
        return sock
    except BaseException:
        sock.close()
        raise


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def http_get(proxy_port: int, host: str, path: str = "/", *, port: int = 80,
             username: str | None = None, password: str = "",
             timeout: float = 30) -> HttpResponse:
    """GET http://host:port/path through the SOCKS5 proxy (HTTP/1.0, whole body read)."""
    with socks5_connect(proxy_port, host, port, username=username, password=password,
                        timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n"
                     f"User-Agent: vahti-tests\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise OSError(f"not an HTTP response from {host}: {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return HttpResponse(int(parts[1]), headers, body)
