"""`.onion` never direct: no spelling of an onion name, and no redirect, makes a direct
(non-Tor) crawl or hunt ask the local resolver about it.

Every vahti process here runs with the DNS audit hook (`tests/support/dns_audit`), which
records each name the process asked a resolver about; the assertions are on that record.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.tor.crawling import DNS_AUDIT, LOOPBACK_NAMES
from tests.tor.sites import TestSite
from vahti.demo.sites.base import Request, Response

pytestmark = pytest.mark.integration

ONION = "a" * 56 + ".onion"  # never resolvable; a lookup of it is what must not happen
# the spellings that once went to the local resolver
SPELLINGS = [
    f"{ONION}.",  # the root's trailing dot
    ONION.replace(".onion", "\u3002onion"),  # ideographic full stop
    ONION.replace(".onion", "\uff0eonion"),  # full-width full stop
    ONION.replace(".onion", "\uff61onion"),  # half-width ideographic full stop
    ONION.replace(".onion", ".ONION"),
    ONION.replace(".onion", ".\uff4f\uff4e\uff49\uff4f\uff4e"),  # full-width letters
    ONION.replace(".onion", "%2Eonion"),
    ONION.replace(".onion", ".xn--onion-"),  # an A-label that decodes to "onion"
]


def audited(vahti, tmp_path: Path) -> Path:
    """Every later vahti process of `vahti` logs the names it resolves to the file returned."""
    log = tmp_path / "dns.log"
    vahti.env["PYTHONPATH"] = os.pathsep.join([str(DNS_AUDIT), vahti.env["PYTHONPATH"]])
    vahti.env["VAHTI_TEST_DNS_LOG"] = str(log)
    return log


def looked_up(log: Path) -> set[str]:
    lines = log.read_text().splitlines() if log.exists() else []
    return {line.split(" ")[1] for line in lines if " " in line}


class Redirecting(TestSite):
    """A test site whose `redirects` paths answer 30x with a Location header."""

    def __init__(self, routes: dict, redirects: dict[str, tuple[int, str]]):
        self.redirects = redirects
        super().__init__(routes)

    def handle(self, request: Request) -> Response:
        target = self.redirects.get(request.path)
        if target is None:
            return super().handle(request)
        status, location = target
        # on the wire as UTF-8, as a real server sends a non-ASCII Location
        raw = location.encode("utf-8").decode("latin-1")
        return Response(status, b"moved\n", "text/plain", [("Location", raw)])


def test_hunt_direct_refuses_every_spelling_of_an_onion_without_a_lookup(vahti, tmp_path):
    assert vahti.run("init").returncode == 0
    log = audited(vahti, tmp_path)
    for spelling in SPELLINGS + ["x.exit", "x.i2p."]:
        result = vahti.run("hunt", f"http://{spelling}/paste/1", "--direct")
        assert result.returncode == 2, (spelling, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert "never" in result.stderr or "through Tor" in result.stderr, result.stderr
    assert looked_up(log) <= LOOPBACK_NAMES, looked_up(log)


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_direct_source_with_an_onion_is_refused(vahti, spelling):
    assert vahti.run("init").returncode == 0
    added = vahti.run("sources", "add", "x", "--kind", "url", "--url",
                      f"http://{spelling}/", "--direct")
    assert added.returncode == 2 and "only be fetched through Tor" in added.stderr, (
        spelling, added.stderr)


def test_redirects_of_a_direct_source_to_an_onion_or_another_host_are_refused(vahti,
                                                                             tmp_path):
    assert vahti.run("init").returncode == 0
    log = audited(vahti, tmp_path)
    refresh = (f'<html><head><meta http-equiv="refresh" content="0; url=http://'
               f'{SPELLINGS[1]}/"></head><body>moved</body></html>')
    routes = {"/": "<html>front page</html>", "/new": "<html>moved here</html>",
              "/meta": refresh}
    redirects = {"/go": (301, f"http://{SPELLINGS[0]}/"),
                 "/go2": (302, f"http://{SPELLINGS[4]}:80/x"),
                 "/away": (302, "http://elsewhere.vahti-test.invalid/"),
                 "/old": (301, "/new")}
    with Redirecting(routes, redirects) as site:
        args = ["sources", "add", "inside", "--kind", "site", "--direct",
                "--option", "depth=0"]
        for path in ("/", "/go", "/go2", "/meta", "/away", "/old"):
            args += ["--url", site.url(path)]
        assert vahti.run(*args).returncode == 0
        result = vahti.run("crawl", "inside", "--json")
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        assert {r.path for r in site.requests} == {"/", "/go", "/go2", "/meta", "/away",
                                                   "/old", "/new"}
    assert looked_up(log) <= LOOPBACK_NAMES, looked_up(log)  # no onion, no elsewhere
    assert summary["errors"] == {"refused_onion": 3, "refused_redirect": 1}
    assert summary["pages"] == 2  # "/" and "/new", through its redirect on the same host
    [run] = vahti.stored("runs", {"source": "inside"})
    assert run["errors"] == {"refused_onion": 3, "refused_redirect": 1}
    assert (run["requests"], run["failed_requests"], run["degraded"]) == (6, 4, True)
    assert "refused: a direct source is redirected to an onion host" in result.stderr


def test_a_direct_source_redirected_only_to_an_onion_fails(vahti, tmp_path):
    assert vahti.run("init").returncode == 0
    log = audited(vahti, tmp_path)
    with Redirecting({}, {"/go": (301, f"http://{SPELLINGS[2]}/")}) as site:
        assert vahti.run("sources", "add", "only", "--kind", "url", "--direct",
                         "--url", site.url("/go")).returncode == 0
        result = vahti.run("crawl", "only")
    assert result.returncode == 2, result.stderr
    assert ("no request succeeded: 1 refused (redirect from a direct source to an "
            "onion host)") in result.stderr, result.stderr
    assert looked_up(log) <= LOOPBACK_NAMES, looked_up(log)
