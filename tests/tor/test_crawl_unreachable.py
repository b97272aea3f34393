"""Tor that cannot connect does not look healthy: through the private Tor network, a
source on an onion that does not exist and one whose service is down. Tor is
bootstrapped and answers, but every SOCKS CONNECT fails: the crawl is `failed` with
tor's own reason, exits 2, and the source is `failing` after `[health] fail_after`
such runs. Nothing is resolved locally."""

from __future__ import annotations

import json

import pytest

from tests.tor.crawling import LOOPBACK_NAMES, Cast, add_source, prepare, resolved_names, stored
from tests.tor.sites import TestSite
from vahti.demo.tornet import OnionKey

pytestmark = pytest.mark.integration


def sources_check(vahti) -> tuple[int, dict]:
    result = vahti.run("sources", "check", "--json")
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, {s["name"]: s["health"] for s in json.loads(result.stdout)["sources"]}


def test_onions_that_do_not_answer_make_failed_crawls_and_a_failing_source(
        vahti, tor_network, onion_for, tmp_path):
    prepare(vahti, tor_network, Cast.make(seed=1212, enrolled=4, decoys=2), tmp_path)
    vahti.env.update({"VAHTI_CRAWL_RETRIES": "0", "VAHTI_HEALTH_FAIL_AFTER": "2",
                      "VAHTI_CRAWL_DOWNLOAD_TIMEOUT_S": "90"})
    missing = f"http://{OnionKey.generate().hostname}/"
    with TestSite({"/": "<html>soon gone</html>"}) as site:
        down = onion_for(site) + "/"  # returns once the onion answers
    add_source(vahti, "missing", "url", missing)
    add_source(vahti, "down", "url", down)

    result = vahti.run("crawl", "missing", timeout=240)
    assert result.returncode == 2, (result.stdout, result.stderr[-3000:])
    assert ("crawl of missing failed: no request succeeded: 1 connection failure "
            "(tor: onion service descriptor can not be found)") in result.stderr, result.stderr

    for _ in range(2):
        result = vahti.run("crawl", "down", timeout=240)
        assert result.returncode == 2, (result.stdout, result.stderr[-3000:])
        # the service's tor cannot reach the site: tor answers "general failure"
        assert ("crawl of down failed: no request succeeded: 1 connection failure "
                "(tor: general SOCKS server failure)") in result.stderr, result.stderr
        assert result.stderr.count("no request succeeded") == 1  # one line, not two
    assert "Traceback" not in result.stderr

    # `hunt URL` says the same, never "nobody found"
    hunted = vahti.run("hunt", missing, timeout=240)
    assert hunted.returncode == 2, (hunted.stdout, hunted.stderr[-3000:])
    assert ("the URL could not be fetched: no request succeeded: 1 connection failure "
            "(tor: onion service descriptor can not be found)") in hunted.stderr, hunted.stderr
    assert resolved_names(vahti) <= LOOPBACK_NAMES, resolved_names(vahti)

    runs = [r for r in stored(vahti, "runs") if r["source"] in ("missing", "down")]
    assert {(r["source"], r["state"], r["reason"]) for r in runs} == {
        ("missing", "failed", "no_response"), ("down", "failed", "no_response")}
    assert all(r["pages"] == 0 and r["requests"] == 1 and r["failed_requests"] == 1
               for r in runs)
    code, health = sources_check(vahti)
    assert code == 1
    assert health["down"]["verdict"] == "failing", health["down"]
    assert "2 failed runs in a row" in health["down"]["reason"]
    assert health["missing"]["verdict"] == "ok" and health["missing"]["failed_streak"] == 1
