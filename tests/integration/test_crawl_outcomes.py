"""What a crawl that could not fetch says about itself: a crawl in which no request got
an answer is `failed` (exit 2, one line saying why), counts towards the source's health,
and a crawl in which most requests failed is `done` but marked degraded, in its run
record and in `vahti sources check`.

Tor is played by a recording SOCKS5 proxy (`tests/support/fake_socks.py`) that answers
CONNECT with an error for every name it does not know, as tor does for an onion that is
down; the crawl's own Tor gate passes (it speaks SOCKS5, no control port).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.privacy import assert_no_plaintext, everything_written
from tests.support.fake_socks import FakeSocks
from tests.tor.sites import TestSite
from vahti.demo.synthetic import make_people

pytestmark = pytest.mark.integration

KNOWN = "leaks.vahti-test.invalid"  # the proxy forwards this one to the test site
PERSON = make_people(1, seed=1207)[0]
# one URL holds an identity code: no failure message, log or record may show it
DOWN = [f"http://down{i}.vahti-test.invalid/{PERSON.hetu if i == 0 else ''}" for i in range(3)]


def add_site(vahti, name: str, urls: list[str]) -> None:
    args = ["sources", "add", name, "--kind", "site", "--option", "depth=0"]
    for url in urls:
        args += ["--url", url]
    added = vahti.run(*args)
    assert added.returncode == 0, added.stderr


def check(vahti) -> tuple[int, dict]:
    result = vahti.run("sources", "check", "--json")
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, {s["name"]: s["health"] for s in json.loads(result.stdout)["sources"]}


def runs_of(vahti, source: str) -> list[dict]:
    return sorted(vahti.stored("runs", {"source": source}), key=lambda r: r["started"])


def test_every_socks_connect_failing_is_a_failed_crawl_and_the_source_fails(vahti, tmp_path):
    with FakeSocks({}, reply=4) as proxy:  # 4: host unreachable, for every CONNECT
        vahti.env.update({"VAHTI_TOR_SOCKS": f"127.0.0.1:{proxy.port}",
                          "VAHTI_CRAWL_RETRIES": "1", "VAHTI_HEALTH_FAIL_AFTER": "2"})
        assert vahti.run("init").returncode == 0
        add_site(vahti, "dark", DOWN)
        first = vahti.run("crawl", "dark")
        assert first.returncode == 2, (first.stdout, first.stderr)
        assert "Traceback" not in first.stderr
        message = ("crawl of dark failed: no request succeeded: "
                   "3 connection failures (tor: host unreachable)")
        assert message in first.stderr, first.stderr
        assert first.stderr.count("no request succeeded") == 1  # one line, not two
        assert len(proxy.requests) == 6  # every URL, retried once: all through the proxy

        [run] = runs_of(vahti, "dark")
        assert run["state"] == "failed" and run["reason"] == "no_response"
        assert run["failure"] == message.removeprefix("crawl of dark failed: ")
        assert (run["requests"], run["failed_requests"], run["pages"]) == (3, 3, 0)
        assert run["errors"] == {"SocksError": 3}
        code, sources = check(vahti)  # one failure of fail_after 2: not failing yet
        assert sources["dark"]["verdict"] == "ok" and sources["dark"]["failed_streak"] == 1

        second = vahti.run("crawl", "dark", "--json")
        assert second.returncode == 2 and second.stdout == "", second.stdout
        code, sources = check(vahti)
        assert code == 1
        assert sources["dark"]["verdict"] == "failing", sources["dark"]
        assert sources["dark"]["reason"].startswith("2 failed runs in a row since ")
        assert "no request succeeded: 3 connection failures" in sources["dark"]["reason"]
        assert sources["dark"]["errors"] == {"SocksError": 6}

        # `scrapy crawl` from the checkout agrees
        scrapy = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "dark"], cwd=REPO,
                                env=vahti.env, capture_output=True, text=True, timeout=120)
        assert scrapy.returncode == 2, scrapy.stderr[-2000:]
    assert "vahti-test.invalid" not in run["failure"]  # causes, never the host
    written = [w for w in everything_written(vahti, tmp_path / "dump",
                                             [("crawl output", first.stdout + first.stderr)])
               if not w.where.endswith("sources.toml")]  # where the user wrote the URL
    assert_no_plaintext(written, [PERSON.hetu])


def test_most_requests_failing_is_degraded_not_failed(vahti, tmp_path):
    with TestSite({"/": "<html>nothing to see</html>"}) as site, \
            FakeSocks({KNOWN: site.port}, reply=0) as proxy:
        vahti.env.update({"VAHTI_TOR_SOCKS": f"127.0.0.1:{proxy.port}",
                          "VAHTI_CRAWL_RETRIES": "0"})
        assert vahti.run("init").returncode == 0
        add_site(vahti, "grey", [f"http://{KNOWN}/", *DOWN])
        result = vahti.run("crawl", "grey")
        assert result.returncode == 0, result.stderr
        assert "3 of 4 requests failed" in result.stdout, result.stdout
        [run] = runs_of(vahti, "grey")
        assert run["state"] == "done" and run["reason"] == "finished"
        assert (run["requests"], run["failed_requests"], run["degraded"]) == (4, 3, True)
        assert run["pages"] == 1 and "failure" not in run
        code, sources = check(vahti)
        assert code == 0 and sources["grey"]["verdict"] == "ok"
        assert "last run degraded: 3 of 4 requests failed" in sources["grey"]["reason"]
        assert sources["grey"]["degraded"] == "3 of 4 requests failed"
        text = vahti.run("sources", "check")
        assert text.returncode == 0
        assert "grey: ok: " in text.stdout and "last run degraded" in text.stdout, text.stdout

        # all answered: not degraded
        add_site(vahti, "fine", [f"http://{KNOWN}/"])
        assert vahti.run("crawl", "fine").returncode == 0
        [run] = runs_of(vahti, "fine")
        assert (run["requests"], run["failed_requests"], run["degraded"]) == (1, 0, False)
        code, sources = check(vahti)
        assert "degraded" not in sources["fine"]["reason"] and not sources["fine"]["degraded"]
