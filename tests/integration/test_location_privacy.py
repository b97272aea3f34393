"""Identifiers in locations never reach storage: a dump whose file, directory and
archive member names are identity codes and e-mail addresses (one file per patient,
as in the Vastaamo leak), and hunted URLs whose path and query hold them. The
contents are found as always; what is stored (pages, sightings, runs, logs, caches)
holds keyed tokens in place of the identifiers, reruns add nothing, and
`vahti search` finds the sightings under their stored URLs."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest

from tests.privacy import assert_no_plaintext, everything_written
from vahti.demo.sites.base import Response, SiteServer, not_found
from vahti.demo.synthetic import make_people, register_csv
from vahti.matchers.detectors import name as name_detector
from vahti.matchers.keys import Key, load_key_file
from vahti.matchers.locations import LocationRedactor, is_redacted
from vahti.spiders.services import CrawlServices
from vahti.spiders.spiders.forum import ForumSpider
from vahti.storage import schema
from vahti.storage.pages import PageRecord, upsert_pages

pytestmark = pytest.mark.integration

PEOPLE = make_people(11, seed=8081)
A, B, C, D, E, F, G, H, K, J = PEOPLE[:10]  # enrolled
STRANGER = PEOPLE[10]  # never enrolled: only in a file name
TOKEN = r"\[(?:hetu|email):[0-9a-f]{16}\]"


def enroll(vahti, tmp_path: Path) -> None:
    assert vahti.run("init").returncode == 0
    register = tmp_path / "register.csv"
    register.write_text(register_csv(PEOPLE[:10]), encoding="utf-8")
    try:
        result = vahti.run("enroll", str(register))
    finally:
        register.unlink()
    assert result.returncode == 0, result.stderr


def write_dump(root: Path) -> dict[str, set[str]]:
    """The dump; returns the scan location of each input -> refs in its content."""
    root.mkdir()
    files = {
        f"potilas_{A.hetu}.txt": f"Potilas {A.full_name}\nhetu {A.hetu}\n",
        f"{B.email}.txt": f"{B.hetu}\n",
        f"{E.hetu.lower()}/rows.csv": f"hetu;email\n{E.hetu};x\n",
        f"{quote(F.email, safe='')}.csv": f"{F.email}\n",
        f"vieras_{STRANGER.hetu}.txt": "ei meidän potilaitamme\n",
        "clean.txt": f"{A.hetu}\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    with zipfile.ZipFile(root / "potilaat.zip", "w") as zf:
        zf.writestr(f"potilaat/{C.hetu}.txt", f"{C.hetu}\n")
        zf.writestr(f"{D.email}/muistio.txt", f"yhteys {D.email}\n")
    return {
        str(root / f"potilas_{A.hetu}.txt"): {A.ref}, str(root / f"{B.email}.txt"): {B.ref},
        str(root / f"{E.hetu.lower()}/rows.csv"): {E.ref},
        str(root / f"{quote(F.email, safe='')}.csv"): {F.ref},
        str(root / "clean.txt"): {A.ref},
        str(root / "potilaat.zip") + f"!potilaat/{C.hetu}.txt": {C.ref},
        str(root / "potilaat.zip") + f"!{D.email}/muistio.txt": {D.ref},
    }


class DumpSite(SiteServer):
    """Any path under /dump/ is a text file naming G and H; /leak/*.zip an archive whose
    member names are identity codes."""

    def handle(self, request) -> Response:  # noqa: ANN001
        if request.path.startswith("/dump/"):
            return Response(200, f"{G.hetu} {G.full_name}\n{H.email}\n".encode(), "text/plain")
        if request.path.startswith("/leak/") and request.path.endswith(".zip"):
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as zf:
                zf.writestr(f"{J.hetu}.txt", f"{J.hetu}\n")
                zf.writestr("notes.txt", f"{K.hetu}\n")
            return Response(200, buf.getvalue(), "application/zip")
        return not_found()


def refs_by_url(sightings: list[dict]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for s in sightings:
        out.setdefault(s["page_url"], set()).add(s["ref"])
    return out


def plaintext() -> list[str]:
    values = [v for p in PEOPLE for v in (p.hetu, p.email)]
    return values + [quote(F.email, safe=""), quote(H.email, safe="")]


def test_identifiers_in_locations_are_stored_as_keyed_tokens(vahti, tmp_path):
    enroll(vahti, tmp_path)
    redactor = LocationRedactor(load_key_file(vahti.home / "key"))
    dump = tmp_path / "dump"
    planted = write_dump(dump)
    printed: list[tuple[str, str]] = []  # what every command printed (output, logs, warnings)

    # -- vahti scan: the contents are found as before, the names never stored ----------
    scan = vahti.run("scan", str(dump), "--json")
    printed += [("scan stdout", scan.stdout), ("scan stderr", scan.stderr)]
    assert scan.returncode == 1, scan.stderr
    findings = [json.loads(line) for line in scan.stdout.splitlines()]
    found: dict[str, set[str]] = {}
    for f in findings:  # the terminal shows the locations as stored: tokens in the names
        found.setdefault(f["location"], set()).add(f["ref"])
    assert found == {redactor.redact(loc): refs for loc, refs in planted.items()}

    stored = refs_by_url(vahti.stored("sightings"))
    expected = {redactor.redact("file://" + loc): refs for loc, refs in planted.items()}
    assert stored == expected
    assert f"file://{dump}/clean.txt" in stored  # a clean location is stored as it is
    assert sum(is_redacted(u) for u in stored) == len(planted) - 1
    assert re.fullmatch(rf"file://{re.escape(str(dump))}/potilas_{TOKEN}\.txt",
                        redactor.redact(f"file://{dump}/potilas_{A.hetu}.txt"))
    members = [u for u in stored if "!" in u]
    zip_url = f"file://{dump}/potilaat.zip"
    assert sorted(members) == sorted([
        f"{zip_url}!potilaat/{redactor.token('hetu', C.hetu)}.txt",
        f"{zip_url}!{redactor.token('email', D.email)}/muistio.txt"])
    pages = {p["url"] for p in vahti.stored("pages")}
    assert len(pages) == 8 and set(stored) <= pages  # 7 inputs and the stranger's file
    assert redactor.redact(f"file://{dump}/vieras_{STRANGER.hetu}.txt") in pages

    # a rerun finds the same stored URLs: nothing new
    again = vahti.run("scan", str(dump))
    printed += [("scan rerun stdout", again.stdout), ("scan rerun stderr", again.stderr)]
    assert again.returncode == 1 and "0 new sightings stored" in again.stdout
    assert len(vahti.stored("sightings")) == len(findings)
    assert {p["url"] for p in vahti.stored("pages")} == pages

    # -- vahti hunt PATH: the same stored URLs, in its JSON too ------------------------
    hunted = vahti.run("hunt", str(dump), "--json")
    printed += [("hunt path stdout", hunted.stdout), ("hunt path stderr", hunted.stderr)]
    assert hunted.returncode == 1, hunted.stderr
    report = json.loads(hunted.stdout)
    assert report["totals"]["new_sightings"] == 0
    hunt_urls = {place["url"] for person in report["found"] for place in person["locations"]}
    assert hunt_urls == set(stored)

    # -- vahti hunt URL: path, query and archive members ----------------------------------
    with DumpSite() as site:
        page_url = site.url(f"/dump/potilas_{G.hetu}.txt?from={quote(H.email, safe='')}")
        zip_url = site.url(f"/leak/{K.hetu}.zip")
        reports = {}
        for url in (page_url, zip_url):
            result = vahti.run("hunt", url, "--direct", "--json", timeout=180)
            printed += [(f"hunt {url} stdout", result.stdout),
                        (f"hunt {url} stderr", result.stderr)]
            assert result.returncode == 1, result.stderr[-3000:]
            reports[url] = json.loads(result.stdout)

        stored_page = redactor.redact(page_url)
        assert stored_page == site.url(
            f"/dump/potilas_{redactor.token('hetu', G.hetu)}.txt"
            f"?from={redactor.token('email', H.email)}")
        stored_zip = site.url(f"/leak/{redactor.token('hetu', K.hetu)}.zip")
        hunt_sightings = refs_by_url(vahti.stored("sightings", {"source": "hunt"}))
        assert hunt_sightings == {
            stored_page: {G.ref, H.ref},
            f"{stored_zip}!{redactor.token('hetu', J.hetu)}.txt": {J.ref},
            f"{stored_zip}!notes.txt": {K.ref},
        }
        for url, stored_url in ((page_url, stored_page), (zip_url, stored_zip)):
            (record,) = vahti.stored("pages", {"url": stored_url})
            assert record["source"] == "hunt" and record["http_status"] == 200
            places = [pl for person in reports[url]["found"] for pl in person["locations"]]
            assert all(pl["url"].startswith(stored_url) for pl in places)
            assert all(pl["location"] == pl["url"] for pl in places)  # the terminal's view
            assert reports[url]["target"] == stored_url
        assert {p["ref"] for p in reports[zip_url]["found"]} == {K.ref, J.ref}

        # hunted again: the token is stable, nothing new, the members still found by prefix
        n_pages = len(vahti.stored("pages"))
        for url in (page_url, zip_url):
            result = vahti.run("hunt", url, "--direct", "--json", timeout=180)
            printed += [(f"hunt {url} again stdout", result.stdout),
                        (f"hunt {url} again stderr", result.stderr)]
            assert result.returncode == 1, result.stderr[-3000:]
            again_report = json.loads(result.stdout)
            assert again_report["totals"]["new_sightings"] == 0
            assert again_report["found"] == reports[url]["found"]
        assert len(vahti.stored("pages")) == n_pages
        assert site.errors == []

    # -- vahti search: the sightings under their stored URLs -------------------------------
    query = "\n".join(p.hetu for p in (A, C, G, J)) + "\n"
    searched = vahti.run("search", "--json", input=query)
    printed += [("search stdout", searched.stdout), ("search stderr", searched.stderr)]
    assert searched.returncode == 1, searched.stderr
    answers = json.loads(searched.stdout)["answers"]
    urls = [{s["url"] for s in a["sightings"]} for a in answers]
    assert urls == [
        {redactor.redact(f"file://{dump}/potilas_{A.hetu}.txt"), f"file://{dump}/clean.txt"},
        {f"file://{dump}/potilaat.zip!potilaat/{redactor.token('hetu', C.hetu)}.txt"},
        {stored_page},
        {f"{stored_zip}!{redactor.token('hetu', J.hetu)}.txt"},
    ]

    # -- nothing plaintext anywhere vahti wrote, nor in what it logged ----------------------
    written = everything_written(vahti, tmp_path / "db-dump", extra=printed)
    assert_no_plaintext(written, plaintext())


def test_forum_resume_never_fetches_a_redacted_url(storage):
    """A thread whose URL held an identifier is stored under a token; resuming it
    rebuilds the live URL of its last page, or starts again from its first page."""
    services = CrawlServices.__new__(CrawlServices)  # the real stored_url, no crawl
    services.storage, services.redactor = storage, LocationRedactor(Key(bytes(range(32))))
    spider = ForumSpider.__new__(ForumSpider)
    spider.crawler, spider.seen_post = SimpleNamespace(vahti=services), {}
    base = "http://forumexample.onion/thread"
    plain, named, in_query = f"{base}/7", f"{base}/potilas-{A.hetu}", f"{base}/9"
    seen = {f"{plain}?page=1": 70, f"{plain}?page=2": 75, named: 80, f"{named}?page=2": 90,
            f"{named}?page=3": 95, f"{in_query}?page=2&hl={A.hetu}": 99}
    upsert_pages(storage, [
        PageRecord(url=services.stored_url(u), source="board", content_id="0" * 32, size=1,
                   final=not u.endswith(("page=2", "page=3")), max_item=n)
        for u, n in seen.items()])
    stored = {p["url"] for p in storage.db[schema.PAGES].find()}
    assert not any(A.hetu in u for u in stored) and sum(map(is_redacted, stored)) == 4

    assert spider.resume_url(plain) == f"{plain}?page=2"
    assert spider.resume_url(named) == f"{named}?page=3"  # rebuilt, not the stored one
    assert spider.seen_post == {plain: 75, named: 95}
    # the identifier was in the stored tail: no live URL for that page, page 1 again
    assert spider.resume_url(in_query) == in_query
    assert spider.seen_post[in_query] == 99


# -- enrolled phones and full names in locations ------------------------------------------

def e164(p) -> str:  # noqa: ANN001
    return "+358" + p.phone.replace(" ", "")[1:]


def folded(text: str) -> str:
    return name_detector.location_form(text)


NOT_A_PHONE = "4712345678"  # a numeric paste id of phone length, nobody's number


class PasteSite(SiteServer):
    """/dump/* names H, /paste/* names J: the URL is what the test is about."""

    def handle(self, request) -> Response:  # noqa: ANN001
        if request.path.startswith("/dump/"):
            return Response(200, f"{H.hetu}\n".encode(), "text/plain")
        if request.path.startswith("/paste/"):
            return Response(200, f"{J.hetu}\n".encode(), "text/plain")
        return not_found()


def test_enrolled_phones_and_names_in_locations_are_stored_as_keyed_tokens(vahti, tmp_path):
    enroll(vahti, tmp_path)
    tok = LocationRedactor(load_key_file(vahti.home / "key")).token
    phone, name = (lambda p: tok("phone", e164(p))), (
        lambda p: tok("name", " ".join(sorted(folded(p.full_name).split()))))
    dump = tmp_path / "dump"
    dump.mkdir()
    digits = {p.ref: p.phone.replace(" ", "") for p in PEOPLE}
    # (the national form of this number is also a valid CPR number, tokenised as such)
    stranger = f"vieras_{STRANGER.full_name.replace(' ', '_')}_{e164(STRANGER)}.txt"
    files = {  # name in the dump: (content, stored name)
        f"{digits[A.ref]}.txt": (A.hetu, f"{phone(A)}.txt"),
        f"{B.first_name}_{B.last_name}.txt": (B.hetu, f"{name(B)}.txt"),
        f"{folded(C.last_name)}-{folded(C.first_name)}.txt": (C.hetu, f"{name(C)}.txt"),
        f"{D.full_name.upper()}/notes.txt": (D.hetu, f"{name(D)}/notes.txt"),
        f"+358 {E.phone[1:]}.csv": (f"hetu\n{E.hetu}", f"{phone(E)}.csv"),
        f"{NOT_A_PHONE}.txt": (A.hetu, f"{NOT_A_PHONE}.txt"),
        stranger: ("ei meidän potilaitamme", stranger),  # nobody enrolled: as it is
        "clean.txt": (B.hetu, "clean.txt"),
    }
    for file_name, (text, _) in files.items():
        (dump / file_name).parent.mkdir(exist_ok=True)
        (dump / file_name).write_text(text + "\n", encoding="utf-8")
    members = {
        f"{F.first_name}_{F.last_name}/{digits[F.ref][:3]}-{digits[F.ref][3:]}.txt":
            (F.hetu, f"{name(F)}/{phone(F)}.txt"),
        f"{G.full_name} {G.phone}.txt": (G.hetu, f"{name(G)} {phone(G)}.txt"),
    }
    with zipfile.ZipFile(dump / "yhteystiedot.zip", "w") as zf:
        for member, (text, _) in members.items():
            zf.writestr(member, text + "\n")
    base = f"file://{dump}/"
    expected = {base + stored: text for stored, text in (
        (stored, text) for text, stored in files.values())}
    expected.update({f"{base}yhteystiedot.zip!{stored}": text
                     for text, stored in members.values()})
    ref_of = {p.hetu: p.ref for p in PEOPLE}
    want_sightings = {url: {ref_of[text.split()[-1]]} for url, text in expected.items()
                      if text.split()[-1] in ref_of}
    printed: list[tuple[str, str]] = []

    # -- vahti scan and vahti hunt PATH: exact stored URLs, reruns add nothing -----------
    scan = vahti.run("scan", str(dump), "--json")
    printed.append(("scan stderr", scan.stderr))
    assert scan.returncode == 1, scan.stderr
    assert refs_by_url(vahti.stored("sightings")) == want_sightings
    pages = {p["url"] for p in vahti.stored("pages")}
    assert pages == set(expected)
    assert f"{base}{NOT_A_PHONE}.txt" in pages and f"{base}{stranger}" in pages
    again = vahti.run("scan", str(dump))
    printed.append(("scan rerun stderr", again.stderr))
    assert again.returncode == 1 and "0 new sightings stored" in again.stdout
    hunted = vahti.run("hunt", str(dump), "--json")
    printed.append(("hunt path stderr", hunted.stderr))
    assert hunted.returncode == 1, hunted.stderr
    report = json.loads(hunted.stdout)
    assert report["totals"]["new_sightings"] == 0
    assert {pl["url"] for person in report["found"] for pl in person["locations"]} == set(
        want_sightings)

    # -- vahti hunt URL: a name and a phone percent-encoded, a numeric paste id -----------
    with PasteSite() as site:
        named = site.url(f"/dump/{quote(H.full_name)}.txt?tel={quote(e164(H), safe='')}")
        paste = site.url(f"/paste/{NOT_A_PHONE}")
        for url in (named, paste):
            result = vahti.run("hunt", url, "--direct", "--json", timeout=180)
            printed.append((f"hunt URL stderr {len(printed)}", result.stderr))
            assert result.returncode == 1, result.stderr[-3000:]
        stored_named = site.url(f"/dump/{name(H)}.txt?tel={phone(H)}")
        assert refs_by_url(vahti.stored("sightings", {"source": "hunt"})) == {
            stored_named: {H.ref}, paste: {J.ref}}
        assert is_redacted(stored_named) and not is_redacted(paste)  # the paste stays fetchable
        result = vahti.run("hunt", named, "--direct", "--json", timeout=180)
        printed.append(("hunt URL again stderr", result.stderr))
        assert json.loads(result.stdout)["totals"]["new_sightings"] == 0  # the same token
        assert site.errors == []

    # -- vahti search finds the sightings under their stored URLs --------------------------
    searched = vahti.run("search", "--json", input="\n".join(p.hetu for p in (A, F, H, J)))
    printed += [("search stdout", searched.stdout), ("search stderr", searched.stderr)]
    assert searched.returncode == 1, searched.stderr
    answers = json.loads(searched.stdout)["answers"]
    assert [{s["url"] for s in a["sightings"]} for a in answers] == [
        {f"{base}{phone(A)}.txt", f"{base}{NOT_A_PHONE}.txt"},
        {f"{base}yhteystiedot.zip!{name(F)}/{phone(F)}.txt"}, {stored_named}, {paste}]

    # -- nothing plaintext: database, home, output, reports in every format ---------------
    for fmt in ("html", "md", "json"):
        out = tmp_path / f"weekly.{fmt}"
        weekly = vahti.run("report", "weekly", "--format", fmt, "--out", str(out))
        assert weekly.returncode == 0, weekly.stderr
        printed += [(f"report {fmt}", out.read_text(encoding="utf-8")),
                    (f"report {fmt} stderr", weekly.stderr)]
    written = everything_written(vahti, tmp_path / "db-dump", extra=printed)
    plain = []
    for p in (A, B, C, D, E, F, G, H):
        plain += [p.phone, e164(p), p.full_name, f"{p.first_name}_{p.last_name}",
                  f"{p.last_name} {p.first_name}", folded(p.full_name),
                  f"{folded(p.last_name)}-{folded(p.first_name)}", quote(p.full_name)]
    assert_no_plaintext(written, plain)
