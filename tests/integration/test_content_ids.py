"""Page content ids cannot be brute-forced back to identifiers (issue 12).

A plain SHA-256 of a small or templated content (a file holding one identity code, a
"No results for <code>" page) gives the code back to anyone who enumerates the
~10^8 codes through the known template: the sighting then ties the code to the ref,
and the keyed URL token is undone. Here vahti scans, hunts (a dump and a URL),
searches, raises and delivers alerts and reports on such content, and an attacker
without the key brute-forces a candidate set of codes through the templates against
everything vahti wrote: the database, the home, every output, the alert payloads and
the reports. With the key, the keyed content ids still link pages, sightings,
candidates and alerts."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from tests.integration.test_hunt import enroll
from tests.privacy import assert_no_plaintext, everything_written
from vahti.demo.sites.base import Response, SiteServer, html_response, not_found
from vahti.demo.synthetic import make_people
from vahti.matchers.contentid import SHARE_MIN_BYTES
from vahti.spiders.sources import Source, edit_sources

pytestmark = pytest.mark.integration

PEOPLE = make_people(6, seed=4242)
A, B, C, D, E = PEOPLE[:5]  # enrolled
STRANGER = PEOPLE[5]  # never enrolled: retained as a keyed candidate only
TEMPLATE = ("<!DOCTYPE html>\n<html><head><title>Haku</title></head>\n"
            "<body><p>No results for {code}</p></body></html>\n")
ONE_CODE = "{code}\n"


class SearchSite(SiteServer):
    """A site search that echoes the query: the page is the template plus the code;
    and any `pages` (path -> bytes) as text files."""

    pages: dict[str, bytes] = {}

    def handle(self, request):  # noqa: ANN001, ANN201
        if request.path == "/search":
            body = TEMPLATE.format(code=request.query.get("q", ""))
            # as Django's ConditionalGetMiddleware does: the ETag is a plain hash of the body
            etag = '"' + hashlib.md5(body.encode()).hexdigest() + '"'
            return html_response(body, headers=[("ETag", etag)])
        if request.path in self.pages:
            return Response(200, self.pages[request.path], "text/plain")
        return not_found()


def write_dump(root: Path) -> list[bytes]:
    """One-code files, a templated page and an archive member; returns every content."""
    root.mkdir()
    contents = {
        "a.txt": ONE_CODE.format(code=A.hetu).encode(),
        "vieras.txt": ONE_CODE.format(code=STRANGER.hetu).encode(),
        "haku.html": TEMPLATE.format(code=B.hetu).encode(),
    }
    for name, data in contents.items():
        (root / name).write_bytes(data)
    member = ONE_CODE.format(code=C.hetu).encode()
    with zipfile.ZipFile(root / "potilaat.zip", "w") as zf:
        zf.writestr("c.txt", member)
    return [*contents.values(), member]


def brute_force(written, codes: list[str]) -> set[str]:
    """The attack: every candidate code through every known template, hashed with plain
    SHA-256 (and the MD5 and SHA-1 that servers use as ETags), looked for (a table's
    12-digit prefix is enough to confirm) in everything vahti wrote. Returns the codes
    recovered."""
    blobs = [w.data.lower() for w in written]
    recovered = set()
    for code in codes:
        for template in (ONE_CODE, TEMPLATE, "{code}"):
            content = template.format(code=code).encode()
            for hashed in (hashlib.sha256, hashlib.sha1, hashlib.md5):
                guess = hashed(content).hexdigest()[:12].encode()
                if any(guess in blob for blob in blobs):
                    recovered.add(code)
    return recovered


def run(vahti, printed: list, *args: str, ok=(0, 1), **kw):
    result = vahti.run(*args, **kw)
    printed.append((f"output #{len(printed)} of {args[0]}", result.stdout + result.stderr))
    assert result.returncode in ok, (args, result.stderr[-3000:])
    return result


def test_no_plain_content_hash_of_small_or_templated_pages_anywhere(vahti, tmp_path):
    enroll(vahti, tmp_path, PEOPLE[:5])
    (vahti.home / "config.toml").write_text(
        f'[channels.siem]\ntype = "stdout"\npath = "{tmp_path / "siem.jsonl"}"\n')
    contents = write_dump(tmp_path / "dump")
    printed: list[tuple[str, str]] = []

    run(vahti, printed, "scan", str(tmp_path / "dump"), "--retain", "--json")
    run(vahti, printed, "hunt", str(tmp_path / "dump"), "--json")
    run(vahti, printed, "hunt", str(tmp_path / "dump"))
    stdin = ONE_CODE.format(code=D.hetu)
    contents.append(stdin.encode())
    run(vahti, printed, "scan", "-", input=stdin)
    with SearchSite() as site:
        url = site.url(f"/search?q={E.hetu}")
        contents.append(TEMPLATE.format(code=E.hetu).encode())
        url_hunts = [len(printed), len(printed) + 1]
        run(vahti, printed, "hunt", url, "--direct", "--json", timeout=180)
        run(vahti, printed, "hunt", url, "--direct", timeout=180)
    queries = "\n".join(p.hetu for p in PEOPLE) + "\n"
    run(vahti, printed, "search", "--json", input=queries)
    run(vahti, printed, "search", input=queries)
    run(vahti, printed, "alerts", "raise", "--json")
    run(vahti, printed, "alerts", "deliver")
    run(vahti, printed, "alerts", "list", "--json")
    run(vahti, printed, "alerts", "list")
    for fmt in ("json", "md", "html"):
        run(vahti, printed, "report", "weekly", "--format", fmt)
    assert (tmp_path / "siem.jsonl").stat().st_size > 0  # the alert payloads, as delivered
    written = everything_written(vahti, tmp_path / "db-dump", extra=[
        *printed, ("siem channel", (tmp_path / "siem.jsonl").read_bytes())])

    # the attacker's candidate set: the planted codes among others of the same shape
    codes = [p.hetu for p in make_people(300, seed=99)] + [p.hetu for p in PEOPLE]
    assert brute_force(written, codes) == set()
    assert_no_plaintext(written, [p.hetu for p in PEOPLE if p is not E], contents=contents)
    # E's code is in the hunted URL, which the terminal shows as the user typed it
    # (the stored URL has a keyed token): everything else must not hold it
    shown_url = {f"output #{i} of hunt" for i in url_hunts}
    assert_no_plaintext([w for w in written if w.where not in shown_url], [E.hetu])


def test_content_ids_link_pages_sightings_candidates_and_alerts(vahti, tmp_path):
    from vahti.matchers.contentid import ContentIds
    from vahti.matchers.keys import load_key_file

    enroll(vahti, tmp_path, PEOPLE[:5])
    contents = write_dump(tmp_path / "dump")
    result = vahti.run("hunt", str(tmp_path / "dump"), "--json")
    assert result.returncode == 1, result.stderr
    assert vahti.run("alerts", "raise").returncode == 0
    ids = ContentIds(load_key_file(vahti.home / "key"))
    wanted = {ids.of_bytes(c) for c in contents}
    assert all(len(i) == 32 for i in wanted)

    page_ids = {p["content_id"] for p in vahti.stored("pages") if p.get("content_id")}
    assert page_ids == wanted
    assert {s["page_content_id"] for s in vahti.stored("sightings")} == {
        ids.of_bytes(contents[0]), ids.of_bytes(contents[2]), ids.of_bytes(contents[3])}
    assert {c["content_id"] for c in vahti.stored("candidates")} == wanted
    alerts = vahti.stored("alerts")
    assert alerts and {a["page_content_id"] for a in alerts} <= wanted
    report = json.loads(result.stdout)
    places = [pl for person in report["found"] for pl in person["locations"]]
    assert {pl["content_id"] for pl in places} <= wanted
    for collection in ("pages", "sightings", "candidates", "alerts", "runs"):
        for doc in vahti.stored(collection):
            assert not any("sha256" in name for name in doc), (collection, sorted(doc))


def test_share_sha256_prints_plain_hashes_of_big_inputs_only_and_never_stores_them(
        vahti, tmp_path):
    enroll(vahti, tmp_path, PEOPLE[:5])
    dump = tmp_path / "dump"
    dump.mkdir()
    filler = b"".join(b"rivi %d ilman tunnuksia\n" % i for i in range(60_000))
    big = filler + ONE_CODE.format(code=A.hetu).encode()
    assert len(big) >= SHARE_MIN_BYTES
    small = ONE_CODE.format(code=B.hetu).encode()
    (dump / "big.txt").write_bytes(big)
    (dump / "small.txt").write_bytes(small)
    big_sha = hashlib.sha256(big).hexdigest()

    plain = vahti.run("hunt", str(dump), "--json")  # not asked: no plain hash at all
    assert plain.returncode == 1 and "share_sha256" not in json.loads(plain.stdout)
    hunted = vahti.run("hunt", str(dump), "--json", "--share-sha256")
    assert hunted.returncode == 1, hunted.stderr
    share = json.loads(hunted.stdout)["share_sha256"]
    assert share["shared"] == [{"location": f"file://{dump}/big.txt", "size": len(big),
                                "sha256": big_sha}]
    assert share["withheld"] == 1 and "1 MiB" in share["withheld_reason"]
    table = vahti.run("scan", str(dump), "--share-sha256")
    assert table.returncode == 1, table.stderr
    assert f"SHA-256 {big_sha}  file://{dump}/big.txt" in table.stdout
    assert "SHA-256 withheld for 1 input, under 1 MiB" in table.stdout
    scanned = vahti.run("scan", str(dump), "--json", "--share-sha256", "--no-store")
    (last,) = [json.loads(x) for x in scanned.stdout.splitlines()
               if json.loads(x)["kind"] == "share_sha256"]
    assert [s["sha256"] for s in last["shared"]] == [big_sha]
    with SearchSite() as site:
        site.pages = {"/big": big, "/small": small}
        for path, expected in (("/big", big_sha), ("/small", "")):
            url = site.url(path)
            result = vahti.run("hunt", url, "--direct", "--json", "--share-sha256", timeout=180)
            assert result.returncode == 1, result.stderr[-3000:]
            share = json.loads(result.stdout)["share_sha256"]
            assert [s["sha256"] for s in share["shared"]] == ([expected] if expected else [])
            assert share["withheld"] == (0 if expected else 1)

    # printed on request, stored nowhere
    written = everything_written(vahti, tmp_path / "db-dump", extra=[
        ("hunt without the flag", plain.stdout + plain.stderr)])
    assert_no_plaintext(written, [A.hetu, B.hetu], contents=[big, small])


class EtagSite(SiteServer):
    """One templated page with a hash-of-body ETag and no Last-Modified: 304 when the
    ETag comes back."""

    code = ""
    not_modified = 0

    def handle(self, request):  # noqa: ANN001, ANN201
        body = TEMPLATE.format(code=self.code)
        etag = '"' + hashlib.sha1(body.encode()).hexdigest() + '"'
        if request.headers.get("If-None-Match") == etag:
            self.not_modified += 1
            return Response(304, b"", None, [("ETag", etag)])
        return html_response(body, headers=[("ETag", etag)])


def test_an_etag_is_stored_sealed_and_still_makes_the_next_get_conditional(vahti, tmp_path):
    enroll(vahti, tmp_path, PEOPLE[:5])
    with EtagSite() as site:
        site.code = A.hetu
        with edit_sources(vahti.home / "sources.toml") as sources:
            sources["one"] = Source(name="one", kind="url", urls=(site.url("/page"),),
                                    direct=True)
        first = vahti.run("crawl", "one", "--json", timeout=180)
        assert first.returncode == 1, first.stderr[-3000:]
        second = vahti.run("crawl", "one", "--json", timeout=180)
        assert second.returncode == 0, second.stderr[-3000:]
        assert json.loads(second.stdout.splitlines()[-1])["not_modified"] == 1
        assert site.not_modified == 1
    (page,) = vahti.stored("pages")
    server_etag = hashlib.sha1(TEMPLATE.format(code=A.hetu).encode()).hexdigest()
    assert page["etag"].startswith("sealed1:") and server_etag not in page["etag"]
    written = everything_written(vahti, tmp_path / "db-dump", extra=[
        ("crawl output", first.stdout + first.stderr + second.stdout + second.stderr)])
    assert brute_force(written, [p.hetu for p in PEOPLE]) == set()
