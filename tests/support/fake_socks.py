"""A recording SOCKS5 proxy on 127.0.0.1 for handler tests (no tor needed).

It answers like Tor's SocksPort: no-auth or username/password, CONNECT only,
and records for each request the address type, the host *as sent* and the
username, so a test can prove that names were left to the proxy. `DIRECTORY`
maps names to loopback ports it forwards to; `reply` forces an error code.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class SocksRequest:
    atyp: int
    host: str
    port: int
    username: str
    password: str


class FakeSocks:
    def __init__(self, directory: dict[str, int], reply: int = 0):
        self.directory = directory
        self.reply = reply
        self.requests: list[SocksRequest] = []
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeSocks:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the server thread
        except OSError:
            pass
        self._sock.close()
        self._thread.join(5)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    @staticmethod
    def _read(conn: socket.socket, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def _handle(self, conn: socket.socket) -> None:
        try:
            _, nmethods = self._read(conn, 2)
            methods = self._read(conn, nmethods)
            user = pw = ""
            if 2 in methods:
                conn.sendall(b"\x05\x02")
                _, ulen = self._read(conn, 2)
                user = self._read(conn, ulen).decode()
                (plen,) = self._read(conn, 1)
                pw = self._read(conn, plen).decode()
                conn.sendall(b"\x01\x00")
            else:
                conn.sendall(b"\x05\x00")
            _, cmd, _, atyp = self._read(conn, 4)
            if atyp == 3:
                (n,) = self._read(conn, 1)
                host = self._read(conn, n).decode()
            elif atyp == 1:
                host = socket.inet_ntoa(self._read(conn, 4))
            else:
                host = socket.inet_ntop(socket.AF_INET6, self._read(conn, 16))
            (port,) = struct.unpack("!H", self._read(conn, 2))
            with self._lock:
                self.requests.append(SocksRequest(atyp, host, port, user, pw))
            target = self.directory.get(host)
            if self.reply or target is None:
                code = self.reply or 4
                conn.sendall(bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0]))
                return
            upstream = socket.create_connection(("127.0.0.1", target))
            conn.sendall(bytes([5, 0, 0, 1, 127, 0, 0, 1]) + struct.pack("!H", target))
            self._pipe(conn, upstream)
        except (OSError, ConnectionError, ValueError):
            pass
        finally:
            conn.close()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        def copy(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        t = threading.Thread(target=copy, args=(b, a), daemon=True)
        t.start()
        copy(a, b)
        t.join(5)
        b.close()
