"""`vahti hunt URL` through the private Tor network: one raw paste on the onion paste
site is fetched now, its planted people found and nobody else, stored; nothing else
on the site is fetched; and with Tor down it fails closed (exit 2, no request)."""

from __future__ import annotations

import json
import socket

import pytest

from tests.privacy import assert_no_plaintext, everything_written
from tests.tor.crawling import LOOPBACK_NAMES, Cast, prepare, resolved_names, stored
from vahti.demo.sites.content import ID_TYPES, plant_paste_texts
from vahti.demo.sites.paste import PasteSite
from vahti.matchers.contentid import ContentIds
from vahti.matchers.keys import load_key_file

pytestmark = pytest.mark.integration


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def by_type(report: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for person in report["found"]:
        for id_type in person["types"]:
            out.setdefault(id_type, set()).add(person["ref"])
    return out


def test_hunt_one_onion_paste_url(vahti, tor_network, onion_for, tmp_path):
    cast = Cast.make(seed=901)
    planted = plant_paste_texts(cast.enrolled[:18], cast.decoys, cast.rng, texts=4)
    target = next(p for p in planted if p.refs)  # a paste with enrolled people in it
    with PasteSite(seed=901) as site:
        ids = [site.add_paste(item.text) for item in planted]
        target_id = ids[planted.index(target)]
        base = onion_for(site)
        prepare(vahti, tor_network, cast, tmp_path)
        url = f"{base}/raw/{target_id}"
        site.clear()

        result = vahti.run("hunt", url, "--json", timeout=240)
        assert result.returncode == 1, (result.returncode, result.stderr[-3000:])
        assert "Traceback" not in result.stderr
        report = json.loads(result.stdout)
        assert report["mode"] == "url" and report["via"] == "tor"
        assert report["source"] == "hunt"

        # exactly the people of that paste, by type; no decoy, nobody from other pastes
        found = by_type(report)
        for id_type in ID_TYPES:
            assert found.get(id_type, set()) == target.refs_by_type[id_type], id_type
        fragments = found.get("fragment", set())
        assert fragments <= target.fragment_refs
        assert len(fragments) >= 0.9 * len(target.fragment_refs)
        everyone = {p["ref"] for p in report["found"]}
        assert everyone <= target.refs and not any(r.startswith("DECOY-") for r in everyone)
        content_id = ContentIds(load_key_file(vahti.home / "key")).of_bytes(
            site.get_paste(target_id).data)
        for person in report["found"]:
            for place in person["locations"]:
                assert place["location"] == url and place["url"] == url
                assert place["content_id"] == content_id
        assert report["totals"]["people"] == len(everyone)
        assert report["totals"]["new_sightings"] == report["totals"]["findings"]

        # only that one URL was fetched, once, through the onion
        assert site.raw_fetches == {target_id: 1}
        assert resolved_names(vahti, "hunt") <= LOOPBACK_NAMES

        # stored like a crawl's page: sightings and a page record, no text
        sightings = stored(vahti, "sightings", {"source": "hunt"})
        assert {s["ref"] for s in sightings} == everyone
        assert all(s["page_url"] == url for s in sightings)
        (page,) = stored(vahti, "pages", {"source": "hunt"})
        assert page["url"] == url and page["http_status"] == 200
        assert page["content_id"] == content_id
        assert not any(k in page for k in ("text", "body"))
        runs = stored(vahti, "runs", {"source": "hunt"})
        assert [(r["state"], r["direct"]) for r in runs] == [("done", False)]
        assert runs[0]["isolation"].startswith("hunt-")  # its own Tor circuit group

        # hunted again: fetched again now (not a conditional GET), same answer
        again = vahti.run("hunt", url, "--json", timeout=240)
        assert again.returncode == 1, again.stderr[-3000:]
        assert by_type(json.loads(again.stdout)) == found
        assert site.raw_fetches == {target_id: 2}
        assert json.loads(again.stdout)["totals"]["new_sightings"] == 0

        # a paste with nobody enrolled in it: exit 0
        empty_id = site.add_paste("nothing here but noise\n" * 20)
        nobody = vahti.run("hunt", f"{base}/raw/{empty_id}", "--json", timeout=240)
        assert nobody.returncode == 0, nobody.stderr[-3000:]
        assert json.loads(nobody.stdout)["found"] == []

        # a URL that is not there: exit 2, not "nobody found"
        missing = vahti.run("hunt", f"{base}/raw/no-such-paste", timeout=240)
        assert missing.returncode == 2 and "could not be fetched" in missing.stderr

    written = everything_written(vahti, tmp_path / "dump", extra=[
        ("hunt stdout", result.stdout), ("hunt stderr", result.stderr)])
    assert_no_plaintext(written, cast.plaintext() + [p.text[:60] for p in planted])


def test_hunt_url_fails_closed_when_tor_is_down(vahti, tor_network, onion_for, tmp_path):
    cast = Cast.make(seed=902, enrolled=5, decoys=0)
    with PasteSite(seed=902) as site:
        paste_id = site.add_paste(f"{cast.enrolled[0].hetu}\n")
        base = onion_for(site)
        prepare(vahti, tor_network, cast, tmp_path)
        down = {"VAHTI_TOR_SOCKS": f"127.0.0.1:{dead_port()}",
                "VAHTI_TOR_CONTROL": f"127.0.0.1:{dead_port()}"}
        site.clear()
        result = vahti.run("hunt", f"{base}/raw/{paste_id}", extra_env=down, timeout=120)
        assert result.returncode == 2, result.stderr[-3000:]
        assert "Tor is not usable" in result.stderr and "Traceback" not in result.stderr
        assert site.connections == [] and site.raw_fetches == {}  # nothing left any other way
        # --direct is refused for an onion: there is no way around Tor
        direct = vahti.run("hunt", f"{base}/raw/{paste_id}", "--direct", extra_env=down)
        assert direct.returncode == 2 and "only be fetched through Tor" in direct.stderr
        assert site.connections == []
    assert stored(vahti, "pages", {"source": "hunt"}) == []
    assert stored(vahti, "sightings") == []
    runs = stored(vahti, "runs", {"source": "hunt"})
    assert [r["state"] for r in runs] == ["failed"]
    assert runs[0]["errors"].get("tor_unavailable") == 1 and runs[0]["pages"] == 0
