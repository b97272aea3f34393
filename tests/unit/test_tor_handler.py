"""The Tor download handler against a recording SOCKS5 proxy (no tor needed).

Every test runs a real Scrapy crawl in a child process (`tests.support.handler_crawl`)
with the project's DOWNLOAD_HANDLERS, so a Scrapy upgrade that routed requests
any other way would fail here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.support.fake_socks import FakeSocks
from tests.tor.crawling import DNS_AUDIT
from tests.tor.sites import TestSite
from vahti.spiders.socks5 import auth_request, connect_request, reply_length

HOST = "leaks.vahti-test.invalid"  # .invalid never resolves: success proves no local lookup


def crawl(urls: list[str], settings: dict, meta: dict | None = None,
          env: dict | None = None) -> dict:
    spec = json.dumps({"urls": urls, "settings": settings, "meta": meta or {}})
    out = subprocess.run([sys.executable, "-m", "tests.support.handler_crawl", spec],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def site():
    with TestSite({"/": "<html>front</html>", "/big": (200, "text/plain", b"x" * 300_000)}) as s:
        yield s


def test_requests_go_through_socks_with_the_name_unresolved_and_isolation(site):
    with FakeSocks({HOST: site.port}) as proxy:
        results = crawl([f"http://{HOST}/", f"http://{HOST}/big"],
                        {"VAHTI_TOR_SOCKS": f"127.0.0.1:{proxy.port}",
                         "VAHTI_TOR_ISOLATION": "pastes-a"})
    assert results[f"http://{HOST}/"]["status"] == 200
    assert results[f"http://{HOST}/big"]["bytes"] == 300_000
    assert proxy.requests, "nothing reached the SOCKS proxy"
    for r in proxy.requests:
        assert (r.atyp, r.host, r.port) == (3, HOST, 80)  # a domain name, as given
        assert r.username == "pastes-a" and r.password == "nym0"
    # every connection the site saw came from the proxy's forwarding
    assert {req.path for req in site.requests} == {"/", "/big"}


def test_without_a_socks_address_nothing_is_sent(site):
    results = crawl([site.url("/")], {})
    assert results[site.url("/")]["error"] == "TorRouteError"
    assert "nothing falls back to direct" in results[site.url("/")]["message"]
    assert site.connections == []


def test_dead_tor_fails_the_request_and_the_site_sees_nothing(site):
    with FakeSocks({}) as proxy:
        dead = proxy.port
    results = crawl([site.url("/")], {"VAHTI_TOR_SOCKS": f"127.0.0.1:{dead}"})
    assert results[site.url("/")]["error"] == "SocksError"
    assert "SOCKS proxy not reachable" in results[site.url("/")]["message"]
    assert site.connections == []


def test_a_proxy_in_request_meta_is_refused(site):
    with FakeSocks({HOST: site.port}) as proxy:
        results = crawl([f"http://{HOST}/"], {"VAHTI_TOR_SOCKS": f"127.0.0.1:{proxy.port}"},
                        meta={"proxy": site.url("/")})
    assert results[f"http://{HOST}/"]["error"] == "TorRouteError"
    assert site.connections == [] and proxy.requests == []


def test_tor_extended_errors_are_named(site):
    with FakeSocks({}, reply=0xF0) as proxy:
        url = "http://" + "a" * 56 + ".onion/"
        results = crawl([url], {"VAHTI_TOR_SOCKS": f"127.0.0.1:{proxy.port}"})
    assert "onion service descriptor can not be found" in results[url]["message"]


def test_direct_only_when_explicit(site):
    results = crawl([site.url("/")], {"VAHTI_DIRECT": True})
    assert results[site.url("/")]["status"] == 200


def test_direct_never_connects_to_an_onion_name_however_spelled(site, tmp_path):
    """The last guard, where the stock handler would make its connection: whatever
    got past the source checks, no special-use name reaches the local resolver."""
    log = tmp_path / "dns.log"
    env = {**os.environ, "VAHTI_TEST_DNS_LOG": str(log),
           "PYTHONPATH": os.pathsep.join([str(DNS_AUDIT), str(REPO)])}
    onion = "a" * 56 + ".onion"
    hosts = [onion, f"{onion}.", onion.upper(), onion.replace(".onion", "\u3002onion"),
             onion.replace(".onion", "\uff0eonion"), onion.replace(".onion", "%2eonion"),
             "x.exit", "y.i2p"]
    urls = [f"http://{host}:{site.port}/" for host in hosts]
    results = crawl([site.url("/"), *urls], {"VAHTI_DIRECT": True}, env=env)
    assert results[site.url("/")]["status"] == 200  # a clearnet name still works
    refused = [r for u, r in results.items() if u != site.url("/")]
    assert len(refused) >= 4, results  # Scrapy's own URL forms may merge a few spellings
    assert all(r["error"] == "NeverDirect" and "never resolved locally" in r["message"]
               for r in refused), refused
    names = {line.split(" ")[1] for line in log.read_text().splitlines()}
    assert names <= {"127.0.0.1", "localhost"}, names
    assert [req.path for req in site.requests] == ["/"]


def test_socks_messages():
    assert connect_request("ab.onion", 80) == b"\x05\x01\x00\x03\x08ab.onion\x00\x50"
    assert auth_request("src", "nym1") == b"\x01\x03src\x04nym1"
    assert reply_length(b"\x05\x00\x00\x01\x7f") == 10
    assert reply_length(b"\x05\x00\x00\x03\x04") == 11
    assert reply_length(b"\x05\x00") is None


@pytest.fixture
def tls_site(tmp_path):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate."""
    import datetime as dt
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = b"secret-free over TLS"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_https_is_tls_over_the_socks_stream(tls_site):
    with FakeSocks({HOST: tls_site}) as proxy:
        url = f"https://{HOST}:{tls_site}/"
        results = crawl([url], {"VAHTI_TOR_SOCKS": f"127.0.0.1:{proxy.port}"})
    assert results[url] == {"status": 200, "bytes": 20, "flags": []}
    assert [(r.atyp, r.host, r.port) for r in proxy.requests] == [(3, HOST, tls_site)]


def test_scrapy_cookies_never_download_the_public_suffix_list():
    """tldextract would fetch it from the internet (outside Tor) on first use."""
    code = ("import spiders; from scrapy.downloadermiddlewares import cookies; "
            "print(cookies._split_domain.suffix_list_urls)")
    env = {k: v for k, v in os.environ.items() if k != "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.stdout.strip() == "()", out.stderr
