"""The private Tor network itself: onions answer, the guard holds, stop() cleans up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from stem.connection import authenticate_cookie
from stem.control import Controller

from tests.tor.sites import TestSite
from vahti.demo.guard import NotIsolatedError, assert_loopback_only, parse_interfaces
from vahti.demo.socks import SocksError, http_get
from vahti.demo.tornet import OnionKey, PrivateTorNetwork, TorNetworkError

integration = pytest.mark.integration

NET_DEV_HEADER = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
)
LO = "    lo:  311596     392    0    0    0     0          0         0   311596     392    0 0\n"
ETH0 = "  eth0: 9876543   12345    0    0    0     0          0         0  1234567    2345    0 0\n"


def tor_pids_under(work_dir: Path) -> list[int]:
    """PIDs of live processes whose command line mentions work_dir (our tors' torrcs)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(work_dir) in cmdline and state != "Z":
            found.append(int(proc.name))
    return found


# -- the guard (plain unit tests: no tor, no namespace needed) -----------------


def test_parse_interfaces() -> None:
    assert parse_interfaces(NET_DEV_HEADER + LO) == ["lo"]
    assert parse_interfaces(NET_DEV_HEADER + LO + ETH0) == ["lo", "eth0"]


def test_guard_refuses_any_interface_besides_lo(tmp_path: Path) -> None:
    net_dev = tmp_path / "dev"
    net_dev.write_text(NET_DEV_HEADER + LO + ETH0)
    with pytest.raises(NotIsolatedError, match="eth0"):
        assert_loopback_only(net_dev)
    net_dev.write_text(NET_DEV_HEADER + LO)
    assert_loopback_only(net_dev)  # only lo: fine
    net_dev.write_text(NET_DEV_HEADER)
    with pytest.raises(NotIsolatedError):  # not even lo: something is off, refuse
        assert_loopback_only(net_dev)
    with pytest.raises(NotIsolatedError, match="cannot read"):
        assert_loopback_only(tmp_path / "missing")


def test_onion_hostname_format() -> None:
    hostname = OnionKey.generate().hostname
    assert hostname.endswith(".onion") and len(hostname) == 62
    assert hostname[55] == "d"  # version 3 in the last base32 character


# -- the running network ---------------------------------------------------------


@integration
def test_this_process_is_loopback_only() -> None:
    assert_loopback_only()  # the suite runs inside tests/tor/run_in_netns.sh


@integration
def test_onion_answers_through_client_socks(tor_network) -> None:
    tor_network.site.clear()
    # the name goes to tor (SOCKS5 domain name): nothing is resolved here
    response = http_get(tor_network.socks_port, tor_network.onion, "/paste/1")
    assert response.status == 200
    assert response.body == b"nothing to see here\n"
    (request,) = tor_network.site.requests
    assert request.path == "/paste/1"
    assert request.headers["Host"] == tor_network.onion
    assert request.peer[0] == "127.0.0.1"  # from the onion host's tor


@integration
def test_unknown_onion_fails_with_socks_error(tor_network) -> None:
    missing = OnionKey.generate().hostname
    with pytest.raises(SocksError) as excinfo:
        http_get(tor_network.socks_port, missing, "/", timeout=60)
    assert excinfo.value.reply == 0xF0  # tor: descriptor not found


@integration
def test_client_control_port_with_cookie(tor_network) -> None:
    network = tor_network.network
    assert network.control_cookie_path.is_file()
    with Controller.from_port(address="127.0.0.1", port=network.control_port) as controller:
        authenticate_cookie(controller, str(network.control_cookie_path))
        assert "PROGRESS=100" in controller.get_info("status/bootstrap-phase")
        assert controller.get_conf("TestingTorNetwork") == "1"
        assert controller.get_conf("UseDefaultFallbackDirs") == "0"


@integration
def test_onion_added_while_running(tor_network) -> None:
    with TestSite({"/": "late"}) as site:
        onion = tor_network.network.add_onion_service("late", site.port)
        assert http_get(tor_network.socks_port, onion, "/").body == b"late"


@integration
def test_stop_leaves_no_tor_alive(tmp_path: Path) -> None:
    network = PrivateTorNetwork(tmp_path / "net")  # no onion: ready once bootstrapped
    with network:
        pids = network.pids
        assert len(pids) == 8
        assert sorted(tor_pids_under(tmp_path)) == sorted(pids.values())
    assert tor_pids_under(tmp_path) == []
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@integration
def test_failed_start_names_the_log_and_stops_everything(tmp_path: Path) -> None:
    network = PrivateTorNetwork(tmp_path / "net", timeout=2)  # far too short
    with pytest.raises(TorNetworkError, match=r"notice\.log"):
        network.start()
    assert network.pids  # it did start tors ...
    assert tor_pids_under(tmp_path) == []  # ... and stopped them all
