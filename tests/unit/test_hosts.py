"""Host names as a resolver reads them (spiders.hosts): every spelling of an onion name
is one name, and ordinary names are left alone."""

from __future__ import annotations

import pytest

from vahti.spiders.hosts import host_of, never_direct, normalise_host


@pytest.mark.parametrize("spelling", [
    "x.onion", "X.onion.", "x.onion..", "x.ONION", "x\u3002onion", "x\uff0eonion",
    "x\uff61onion", "x.\uff4f\uff4e\uff49\uff4f\uff4e", "x%2eonion", "x%252Eonion",
    "x.xn--onion-", "x\u2024onion",  # ONE DOT LEADER: NFKC makes it a full stop
])
def test_every_spelling_of_an_onion_is_one_name(spelling):
    assert normalise_host(spelling) == "x.onion"
    assert never_direct(spelling) == "onion"


@pytest.mark.parametrize("host, special", [
    ("relay.exit", "exit"), ("SITE.I2P.", "i2p"), ("onion", "onion"),
    ("onion.example.com", ""), ("example.onion-mirror.com", ""), ("127.0.0.1", ""),
    ("xn--bcher-kva.example", ""),
])
def test_special_use_names_and_ordinary_ones(host, special):
    assert never_direct(host) == special


def test_host_of_a_url():
    assert host_of("http://X\uff0eONION.:8080/path?q=1") == "x.onion"
    assert host_of("https://Intranet.Example/") == "intranet.example"
    assert host_of("not a url") == ""
