"""Loopback receivers for alert channels, shared by the alert and monitoring tests:
a webhook (http.server recording requests, scripted statuses) and an SMTP server
(aiosmtpd with STARTTLS and AUTH, self-signed certificate)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import socket
import threading
import time
from datetime import UTC, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOOK_SECRET = "hook-signing-secret-5f2a9c"
SMTP_USER = "vahti-mailer"
SMTP_PASSWORD = "smtp-pass-77e1b0"


class Webhook:
    """An http.server on 127.0.0.1 that records requests and answers a scripted status."""

    def __init__(self, statuses: list[int] | None = None, default: int = 200) -> None:
        self.statuses = list(statuses or [])
        self.default = default
        self.requests: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = hook.statuses.pop(0) if hook.statuses else hook.default
                hook.requests.append({"headers": dict(self.headers), "body": body,
                                      "status": status, "at": time.monotonic(),
                                      "path": self.path})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/vahti"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def ok(self) -> list[dict]:
        return [r for r in self.requests if 200 <= r["status"] < 300]

    def payloads(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def webhook():
    hooks: list[Webhook] = []

    def make(statuses: list[int] | None = None, default: int = 200) -> Webhook:
        hooks.append(Webhook(statuses, default))
        return hooks[-1]

    yield make
    for hook in hooks:
        hook.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "smtp-cert.pem", tmp_path / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "data": envelope.original_content or envelope.content,
                              "tls": session.ssl is not None})
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login == SMTP_USER.encode()
              and auth_data.password == SMTP_PASSWORD.encode())
        if ok:
            self.logins.append(mechanism)
        return AuthResult(success=ok)


@pytest.fixture
def smtp_server(tmp_path):
    import ssl

    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(),
                            tls_context=context, require_starttls=True,
                            authenticator=mailbox.authenticate, auth_required=True,
                            loop=asyncio.new_event_loop())
    controller.start()
    try:
        yield controller.port, cert, mailbox
    finally:
        controller.stop()


def mail_channel(port: int, cert: Path, password: str, to: tuple[str, ...] = ("soc@example.org",),
                 name: str = "mail", extra: str = "") -> str:
    """A `[channels.NAME]` e-mail table for the `smtp_server` fixture (STARTTLS, AUTH
    with SMTP_USER from the environment); `password` is the line naming its source,
    e.g. `password_env = "SMTP_PASSWORD"` or `password_file = "/path"`."""
    recipients = ", ".join(f'"{r}"' for r in to)
    return (f'\n[channels.{name}]\ntype = "email"\nhost = "127.0.0.1"\nport = {port}\n'
            f'security = "starttls"\nca_file = "{cert}"\nusername_env = "SMTP_USER"\n'
            f'{password}\nfrom = "vahti@example.org"\nto = [{recipients}]\n{extra}')


def secret_file(path: Path, value: str) -> Path:
    """A secret file as vahti accepts it: the value on its first line, mode 0600."""
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path
