"""Crawling an onion paste site through the private Tor network, end to end."""

from __future__ import annotations

import pytest

from tests.privacy import assert_no_plaintext, everything_written
from tests.tor.crawling import Cast, add_source, assert_found_exactly, crawl, prepare, stored
from vahti.demo.sites.content import Planted, plant_paste_texts
from vahti.demo.sites.paste import PasteSite

pytestmark = pytest.mark.integration


def test_paste_site_found_incremental_and_nothing_plaintext(vahti, tor_network, onion_for,
                                                             tmp_path):
    cast = Cast.make(seed=501)
    planted = plant_paste_texts(cast.enrolled[:18], cast.decoys, cast.rng, texts=8)
    with PasteSite(seed=501) as site:
        for item in planted:
            site.add_paste(item.text)
        url = onion_for(site) + "/"
        prepare(vahti, tor_network, cast, tmp_path)
        add_source(vahti, "pastes", "paste_listing", url)

        first = crawl(vahti, "pastes", expect=(1,))
        assert first["reason"] == "finished" and first["via"] == "tor"
        assert (first["listed"], first["new_items"]) == (8, 8)
        assert_found_exactly(vahti, Planted.union(planted))
        assert all(n == 1 for n in site.raw_fetches.values())

        # new pastes appear; the second run fetches only those
        later = plant_paste_texts(cast.enrolled[18:22], cast.decoys[:3], cast.rng, texts=2)
        new_ids = {site.add_paste(item.text) for item in later}
        second = crawl(vahti, "pastes", expect=(1,))
        assert (second["listed"], second["new_items"]) == (10, 2)
        fetched_twice = {pid for pid, n in site.raw_fetches.items() if n > 1}
        assert not fetched_twice
        assert set(site.raw_fetches) >= new_ids
        assert_found_exactly(vahti, Planted.union(planted + later))

        # a third run finds the listing unchanged and fetches no paste
        before = dict(site.raw_fetches)
        third = crawl(vahti, "pastes", expect=(0,))
        assert third["new_items"] == 0 and site.raw_fetches == before

    runs = stored(vahti, "runs", {"source": "pastes"})
    assert [r["state"] for r in runs] == ["done", "done", "done"]
    assert all(r["isolation"] == "pastes" and r["direct"] is False for r in runs)
    pages = stored(vahti, "pages", {"source": "pastes"})
    assert all(set(p) >= {"url", "content_id", "size", "http_status"} for p in pages)
    assert not any("text" in p or "body" in p for p in pages)
    written = everything_written(vahti, tmp_path / "dump")
    assert_no_plaintext(written, cast.plaintext() + [p.text[:60] for p in planted])
