"""The private Tor network fixture.

`tor_network` is session-scoped: one network (3 authorities, 3 relays, an onion
host, a client) serves every test, with one onion service in front of a
`TestSite`. It never skips: outside a loopback-only network namespace, or
without tor, it fails with a message saying what to do.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.tor.sites import TestSite
from vahti.demo.guard import NotIsolatedError, assert_loopback_only, assert_loopback_usable
from vahti.demo.tornet import PrivateTorNetwork, TorNetworkError

SITE_ROUTES = {
    "/": "<html><body><a href='/paste/1'>paste 1</a></body></html>",
    "/paste/1": (200, "text/plain; charset=utf-8", "nothing to see here\n"),
}


@dataclass
class TorNetworkFixture:
    network: PrivateTorNetwork
    site: TestSite  # the HTTP server behind the onion
    onion: str  # the onion's hostname, "<56 chars>.onion" (port 80)

    @property
    def socks_port(self) -> int:
        return self.network.socks_port

    @property
    def control_port(self) -> int:
        return self.network.control_port

    def onion_url(self, path: str = "/") -> str:
        return f"http://{self.onion}{path}"


@pytest.fixture(scope="session")
def tor_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorNetworkFixture]:
    """A running private Tor network with one onion service in front of a TestSite.

    The site's record of connections is cleared once the network is ready (the
    readiness probes went through it); tests that check "no connection" should
    still call `tor_network.site.clear()` first, as other tests share the site.
    """
    missing = [tool for tool in ("tor", "tor-gencert") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: the Tor tests need Debian's tor "
                    f"(`make system-deps`, or apt-get install tor with a policy-rc.d that "
                    f"denies service starts)", pytrace=False)
    try:
        assert_loopback_only()
        assert_loopback_usable()
    except NotIsolatedError as exc:
        pytest.fail(str(exc), pytrace=False)

    with TestSite(SITE_ROUTES) as site:
        network = PrivateTorNetwork(tmp_path_factory.mktemp("tor-network"))
        onion = network.add_onion_service("site", site.port)
        try:
            network.start()
        except TorNetworkError as exc:
            pytest.fail(f"private Tor network did not come up: {exc}", pytrace=False)
        try:
            site.clear()
            yield TorNetworkFixture(network, site, onion)
        finally:
            network.stop()


@pytest.fixture
def onion_for(tor_network: TorNetworkFixture):
    """Put a test site behind a new onion service of the private network:
    `onion_for(site) -> "http://<56 chars>.onion"`. Returns once it answers."""
    def add(site) -> str:
        name = f"site{next(_onion_names)}"
        return "http://" + tor_network.network.add_onion_service(name, site.port)
    return add


_onion_names = itertools.count(1)
