"""The daemon's Prometheus metrics end to end: a real daemon crawls a loopback paste
site (a direct source), raises sightings and alerts and delivers them to two channels
(one file, one webhook that is down); its /metrics endpoint is scraped over HTTP,
parsed, and every figure compared with what the database holds."""

from __future__ import annotations

import platform
import socket
import time
import urllib.request
from datetime import UTC

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_daemon import (
    FAST,
    add_source,
    daemon,
    ended,
    prepare,
    stop,
    wait_for,
)
from tests.privacy import Written, assert_no_plaintext
from tests.tor.crawling import Cast
from vahti import __version__
from vahti.demo.sites.content import plant_paste_texts
from vahti.demo.sites.paste import PasteSite
from vahti.storage import leases, schema

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        assert answer.status == 200
        return answer.read().decode()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(got: dict, name: str, **labels: str) -> float:
    return got[(name, tuple(sorted(labels.items())))]


def test_metrics_of_a_daemon_that_crawled_alerted_and_delivered(vahti, tmp_path):
    cast = Cast.make(seed=731, enrolled=12, decoys=6)
    planted = plant_paste_texts(cast.enrolled[:8], cast.decoys, cast.rng, texts=4)
    prepare(vahti, tmp_path, cast)
    siem = tmp_path / "siem.jsonl"
    with (vahti.home / "config.toml").open("a") as config:
        config.write(f'\n[channels.siem]\ntype = "stdout"\npath = "{siem}"\n'
                     '\n[channels.hook]\ntype = "webhook"\nurl = "http://127.0.0.1:9/in"\n'
                     'secret_env = "HOOK_SECRET"\ntimeout_s = 2.0\n')
    port = free_port()
    env = {**FAST, "VAHTI_METRICS_LISTEN": f"127.0.0.1:{port}", "VAHTI_METRICS_CACHE_S": "0",
           "HOOK_SECRET": "s3cret-for-the-test-hook"}
    with vahti.storage() as st, PasteSite(seed=731) as site:
        for item in planted:
            site.add_paste(item.text)
        add_source(vahti, "pastes", site.url("/"), "every 1h")
        with daemon(vahti, tmp_path / "daemon.log", env) as proc:
            wait_for("metrics", lambda: _answers(port), 30)
            run = wait_for("the crawl", lambda: ended(st, "pastes", state="done"), 60)[0]
            outbox = st.db[schema.OUTBOX]

            def settled() -> int:
                """Alerts raised, each sent to the file and tried once at the webhook."""
                n = st.db[schema.ALERTS].count_documents({"kind": "sighting"})
                sent = outbox.count_documents({"channel": "siem", "state": "sent"})
                tried = outbox.count_documents({"channel": "hook", "attempts": {"$gte": 1}})
                return n if n and sent == n and tried == n else 0

            n_alerts = wait_for("alerts, delivered and tried", settled, 60)
            time.sleep(1)  # the pass that made those attempts has counted them
            text = scrape(port)
            got = samples(text)
            n_sightings = st.db[schema.SIGHTINGS].count_documents({})
            lease = leases.get(st, "source:pastes")
            assert stop(proc) == 0

    assert n_alerts >= 3 and n_sightings >= n_alerts and run["pages"] >= len(planted)
    # what this daemon counted, figure by figure, against the run record and the database
    assert value(got, "vahti_crawls_total", source="pastes", result="done") == 1
    assert value(got, "vahti_crawl_pages_total", source="pastes") == run["pages"]
    assert value(got, "vahti_crawl_fetched_bytes_total", source="pastes") == run["bytes"]
    assert value(got, "vahti_crawl_scan_seconds_total", source="pastes") == pytest.approx(
        run["pipeline_s"])
    assert value(got, "vahti_crawl_scan_mb_per_second", source="pastes") == pytest.approx(
        run["bytes"] / run["pipeline_s"] / 1e6)
    assert value(got, "vahti_sightings_new_total", via="crawl") == run["new_sightings"]
    assert run["new_sightings"] == n_sightings
    assert value(got, "vahti_sightings_new_total", via="retro_hunt") == 0
    assert value(got, "vahti_alerts_raised_total", kind="sighting") == n_alerts
    assert value(got, "vahti_alerts_raised_total", kind="health") == 0
    assert value(got, "vahti_deliveries_total", channel="siem", result="sent") == n_alerts
    assert value(got, "vahti_deliveries_total", channel="hook", result="retrying") == n_alerts
    # what the database holds
    backlog = {lbls: v for (name, lbls), v in got.items() if name == "vahti_outbox_backlog"}
    assert backlog == {(("channel", "hook"), ("state", "pending")): n_alerts}  # siem: all sent
    ended_at = lease["last_end"].replace(tzinfo=lease["last_end"].tzinfo or UTC).timestamp()
    for name in ("vahti_source_last_success_timestamp_seconds",
                 "vahti_source_last_run_timestamp_seconds"):
        assert value(got, name, source="pastes") == pytest.approx(ended_at, abs=0.002)
    assert run["finished"] <= lease["last_end"]
    assert value(got, "vahti_database_up") == 1
    assert value(got, "vahti_tor_ready") == 0  # launch mode, and no crawl needed tor
    assert value(got, "vahti_build_info", version=__version__,
                 python=platform.python_version()) == 1
    # labels: bounded names only, never a URL or an identifier
    labels = {v for (_, lbls) in got for _, v in lbls}
    assert labels <= {"pastes", "siem", "hook", "done", "sent", "retrying", "pending",
                      "crawl", "retro_hunt", "sighting", "health",
                      __version__, platform.python_version()}, labels
    assert "/raw/" not in text and f"127.0.0.1:{site.port}" not in text
    assert_no_plaintext([Written("metrics", text.encode())], cast.plaintext())


def _answers(port: int) -> bool:
    try:
        scrape(port)
    except OSError:
        return False
    return True


def test_a_public_address_or_a_busy_port_is_one_line_and_exit_2(vahti, tmp_path):
    prepare(vahti, tmp_path)
    refused = vahti.run("daemon", extra_env={"VAHTI_METRICS_LISTEN": "0.0.0.0:9464"})
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "vahti: error: metrics.listen 0.0.0.0:9464 is not a loopback address: metrics stay "
        "on this host unless [metrics] allow_remote = true"]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = vahti.run("daemon", extra_env={"VAHTI_METRICS_LISTEN": f"127.0.0.1:{port}"})
    assert taken.returncode == 2
    assert taken.stderr.strip().splitlines() == [
        f"vahti: error: metrics: cannot listen on 127.0.0.1:{port} (address already in use)"]


def test_metrics_stay_off_unless_configured(vahti, tmp_path):
    prepare(vahti, tmp_path)
    log = tmp_path / "daemon.log"
    with daemon(vahti, log, FAST) as proc:
        wait_for("the daemon", lambda: b"jobs; SIGHUP" in log.read_bytes(), 30)
        assert stop(proc) == 0
    assert "metrics at" not in (vahti.home / "logs" / "vahti.log").read_text()

