"""The Tor properties of a crawl: fail closed, no local DNS, stream isolation,
NEWNYM when blocked, a crawl killed mid-way resumes, `scrapy crawl` from the
checkout, and launch mode (vahti's own tor joining the private network)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from stem.control import EventType

from tests.conftest import REPO
from tests.tor.crawling import (
    Cast,
    add_source,
    assert_found_exactly,
    crawl,
    prepare,
    resolved_names,
    stored,
)
from vahti.demo.sites.content import Planted, plant_paste_texts
from vahti.demo.sites.paste import PasteSite

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def pastes(tor_network):
    """One onion paste site for this module, with 8 pastes of cast 801's people."""
    cast = Cast.make(seed=801)
    planted = plant_paste_texts(cast.enrolled[:16], cast.decoys, cast.rng, texts=8)
    with PasteSite(seed=801) as site:
        for item in planted:
            site.add_paste(item.text)
        onion = tor_network.network.add_onion_service("tor-props-pastes", site.port)
        yield site, f"http://{onion}/", cast, Planted.union(planted)


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fail_closed_when_tor_is_down(vahti, tor_network, pastes, tmp_path):
    site, url, cast, _ = pastes
    prepare(vahti, tor_network, cast, tmp_path)
    add_source(vahti, "pastes", "paste_listing", url)
    down = {"VAHTI_TOR_SOCKS": f"127.0.0.1:{dead_port()}",
            "VAHTI_TOR_CONTROL": f"127.0.0.1:{dead_port()}"}
    site.clear()
    result = vahti.run("crawl", "pastes", extra_env=down)
    assert result.returncode == 2, result.stderr
    assert "Tor is not usable" in result.stderr and "Traceback" not in result.stderr
    scrapy = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "pastes"], cwd=REPO,
                            env={**vahti.env, **down}, capture_output=True, text=True,
                            timeout=120)
    assert scrapy.returncode == 2, scrapy.stderr[-2000:]
    assert site.connections == []  # nothing left any other way
    runs = stored(vahti, "runs", {"source": "pastes"})
    assert [r["state"] for r in runs] == ["failed", "failed"]
    assert all(r["errors"].get("tor_unavailable") == 1 and r["pages"] == 0 for r in runs)


def test_fail_closed_when_tor_cannot_bootstrap(vahti, tor_network, pastes, tmp_path):
    """Launch mode with a tor that can reach no directory authority."""
    site, url, cast, _ = pastes
    prepare(vahti, tor_network, cast, tmp_path)
    add_source(vahti, "pastes", "paste_listing", url)
    isolated = [line for line in tor_network.network.client_torrc_lines()
                if not line.startswith("DirAuthority")]
    isolated.append(f"DirAuthority nowhere orport={dead_port()} no-v2 "
                    f"v3ident={'A' * 40} 127.0.0.1:{dead_port()} {'B' * 40}")
    env = {k: v for k, v in vahti.env.items() if k not in ("VAHTI_TOR_SOCKS", "VAHTI_TOR_CONTROL")}
    env.update({"VAHTI_TOR_MODE": "launch", "VAHTI_TOR_TORRC_EXTRA": "\n".join(isolated),
                "VAHTI_TOR_BOOTSTRAP_TIMEOUT_S": "8"})
    vahti.env = env
    site.clear()
    result = vahti.run("crawl", "pastes")
    assert result.returncode == 2, result.stderr
    assert "Tor is not usable" in result.stderr
    assert site.connections == []
    assert "not running" in vahti.run("tor", "status").stdout  # the tor it started is gone


def test_host_names_reach_tor_unresolved(vahti, tor_network, pastes, tmp_path):
    site, url, cast, planted = pastes
    prepare(vahti, tor_network, cast, tmp_path)
    add_source(vahti, "pastes", "paste_listing", url)
    log = tor_network.network.client.log
    log_before = log.stat().st_size
    summary = crawl(vahti, "pastes", expect=(1,))
    assert summary["new_items"] == 8
    assert_found_exactly(vahti, planted)
    hosts = resolved_names(vahti)  # prepare() put the audit hook in every vahti process
    assert (tmp_path / "dns.log").exists() and url.split("/")[2] not in hosts
    assert hosts <= {"127.0.0.1", "localhost"}, hosts  # the database and tor only
    # tor's side (client torrc has SafeSocks 1 and TestSocks 1): names, never addresses
    with open(log, "rb") as fh:
        fh.seek(log_before)
        tor_log = fh.read().decode("utf-8", "replace")
    assert "instructed Tor to take care of the DNS resolution itself" in tor_log
    assert "giving Tor only an IP address" not in tor_log


def _streams_by_circuit(tor_network, run) -> dict[str, set[str]]:
    """Run `run()` and return SOCKS username -> circuits its streams used."""
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def on_stream(event) -> None:
        if event.status == "SUCCEEDED" and event.circ_id:
            user = event.keyword_args.get("SOCKS_USERNAME", "?").strip('"')
            with lock:
                seen.append((user, event.circ_id))

    with tor_network.network.controller() as controller:
        controller.add_event_listener(on_stream, EventType.STREAM)
        run()
        time.sleep(0.5)
    out: dict[str, set[str]] = {}
    for user, circ in seen:
        out.setdefault(user, set()).add(circ)
    return out


def test_sources_use_separate_circuits(vahti, tor_network, pastes, tmp_path):
    site, url, cast, _ = pastes
    prepare(vahti, tor_network, cast, tmp_path)
    add_source(vahti, "first", "paste_listing", url)
    add_source(vahti, "second", "paste_listing", url)

    def both() -> None:
        crawl(vahti, "first", expect=(1,))
        crawl(vahti, "second", expect=(0,))  # the pastes are known: only the listing

    circuits = _streams_by_circuit(tor_network, both)
    assert circuits.get("first") and circuits.get("second"), circuits
    assert not circuits["first"] & circuits["second"]


def test_new_identity_when_the_site_blocks(vahti, tor_network, pastes, tmp_path):
    site, url, cast, planted = pastes
    prepare(vahti, tor_network, cast, tmp_path)
    add_source(vahti, "pastes", "paste_listing", url)
    vahti.env.update({"VAHTI_TOR_NEWNYM_AFTER": "2", "VAHTI_CRAWL_RETRIES": "6"})
    signals: list[str] = []
    with tor_network.network.controller() as controller:
        controller.add_event_listener(lambda e: signals.append(e.signal), EventType.SIGNAL)
        site.block_next(3, 429)
        summary = crawl(vahti, "pastes", expect=(1,))
        deadline = time.monotonic() + 12  # tor delays a NEWNYM inside its rate limit
        while "NEWNYM" not in signals and time.monotonic() < deadline:
            time.sleep(0.2)
    assert summary["newnym"] >= 1 and summary["new_items"] == 8
    assert "NEWNYM" in signals
    assert_found_exactly(vahti, planted)


def test_killed_crawl_resumes_without_loss_or_duplicates(vahti, tor_network, onion_for,
                                                         tmp_path):
    cast = Cast.make(seed=901, enrolled=60)
    planted = plant_paste_texts(cast.enrolled[:45], cast.decoys, cast.rng, texts=30)
    with PasteSite(seed=901, slow_ms=120) as site:
        ids = [site.add_paste(item.text) for item in planted]
        url = onion_for(site) + "/"
        prepare(vahti, tor_network, cast, tmp_path)
        add_source(vahti, "pastes", "paste_listing", url, "--concurrency", "2",
                   "--option", "listing_pages=2")
        proc = vahti.popen("crawl", "pastes", stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        # killed once some pastes are stored (writes are batched, about every second)
        # and more are on their way
        while not stored(vahti, "pages", {"final": True}) and time.monotonic() < deadline:
            assert proc.poll() is None, "the crawl ended before it could be killed"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        done_before = len(stored(vahti, "pages", {"final": True}))
        assert 0 < done_before < len(ids)
        summary = crawl(vahti, "pastes", expect=(1,), timeout=300)
        assert summary["reason"] == "finished"
        assert summary["new_items"] == len(ids) - done_before

    sightings = stored(vahti, "sightings")
    keys = [(s["page_url"], s["ref"], s["id_type"], s["start"]) for s in sightings]
    assert len(keys) == len(set(keys))
    # the reference: the same texts scanned locally, offset for offset
    reference = set()
    for paste_id, item in zip(ids, planted, strict=True):
        path = tmp_path / f"{paste_id}.txt"
        path.write_text(item.text)
        out = vahti.run("scan", str(path), "--json", "--no-store")
        for line in out.stdout.splitlines():
            f = json.loads(line)
            reference.add((f"{url}raw/{paste_id}", f["ref"], f["id_type"], f["start"]))
    assert set(keys) == reference
    assert_found_exactly(vahti, Planted.union(planted))
    states = sorted(r["state"] for r in stored(vahti, "runs", {"source": "pastes"}))
    assert states == ["done", "running"]  # the killed run never finished


def test_scrapy_crawl_from_the_checkout(vahti, tor_network, pastes, tmp_path):
    site, url, cast, planted = pastes
    prepare(vahti, tor_network, cast, tmp_path)
    add_source(vahti, "pastes", "paste_listing", url)
    listed = subprocess.run([sys.executable, "-m", "scrapy", "list"], cwd=REPO, env=vahti.env,
                            capture_output=True, text=True, timeout=60)
    assert listed.stdout.split() == ["pastes"], listed.stderr[-2000:]
    ran = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "pastes"], cwd=REPO,
                         env=vahti.env, capture_output=True, text=True, timeout=240)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert_found_exactly(vahti, planted)
    for plaintext in cast.plaintext():
        assert plaintext not in ran.stderr  # Scrapy's own log: no item, no page text


def test_launch_mode_crawl_joins_the_network(vahti, tor_network, pastes, tmp_path):
    site, url, cast, planted = pastes
    prepare(vahti, tor_network, cast, tmp_path)
    add_source(vahti, "pastes", "paste_listing", url)
    env = {k: v for k, v in vahti.env.items() if k not in ("VAHTI_TOR_SOCKS", "VAHTI_TOR_CONTROL")}
    env.update({"VAHTI_TOR_MODE": "launch",
                "VAHTI_TOR_TORRC_EXTRA": "\n".join(tor_network.network.client_torrc_lines())})
    vahti.env = env
    summary = crawl(vahti, "pastes", expect=(1,))
    assert summary["via"] == "tor" and summary["new_items"] == 8
    assert_found_exactly(vahti, planted)
    assert (vahti.home / "tor" / "data").is_dir()
    assert "not running" in vahti.run("tor", "status").stdout  # stopped after the crawl


def test_url_source_and_conditional_get(vahti, tor_network, pastes, tmp_path):
    site, url, cast, planted = pastes
    prepare(vahti, tor_network, cast, tmp_path)
    paste_id = site.paste_ids()[0]
    add_source(vahti, "one", "url", f"{url}raw/{paste_id}")
    first = crawl(vahti, "one")
    assert first["pages"] == 1 and first["not_modified"] == 0
    before = site.raw_not_modified.get(paste_id, 0)
    second = crawl(vahti, "one", expect=(0,))
    assert second["not_modified"] == 1 and second["pages"] == 0  # a 304: nothing to scan
    assert site.raw_not_modified.get(paste_id, 0) == before + 1
    page = stored(vahti, "pages", {"url": f"{url}raw/{paste_id}"})[0]
    assert page["etag"] and page["last_modified"] and page["http_status"] == 200
