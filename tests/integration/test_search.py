"""`vahti search` and retro-hunts over retained candidates, end to end on the test
database, with a loopback paste site crawled through a `direct = true` source
(Tor is not the point here; tests/tor covers the crawl through Tor)."""

from __future__ import annotations

import json

import pytest

from tests.privacy import assert_no_plaintext, everything_written
from vahti.demo.sites.paste import PasteSite
from vahti.demo.synthetic import make_people, register_csv
from vahti.spiders.sources import Source, edit_sources
from vahti.storage import schema

pytestmark = pytest.mark.integration

PEOPLE = make_people(8, seed=707)
ENROLLED = PEOPLE[:3]
STRANGER = PEOPLE[3]  # on the site, enrolled later
NOTE_OWNER = PEOPLE[4]  # their note on the site, enrolled later
NEVER = PEOPLE[5]  # nowhere


def enroll(vahti, tmp_path, people) -> dict:
    register = tmp_path / "register.csv"
    register.write_text(register_csv(people))
    try:
        result = vahti.run("enroll", str(register), "--json")
    finally:
        register.unlink()
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def search(vahti, lines: list[str], *args: str) -> tuple[int, dict]:
    result = vahti.run("search", "--json", *args, input="\n".join(lines) + "\n")
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout)


@pytest.fixture
def crawled(vahti, tmp_path):
    """Three people enrolled; a paste site holding one of them, a stranger's
    identifiers and another stranger's session note; crawled once."""
    assert vahti.run("init").returncode == 0
    enroll(vahti, tmp_path, ENROLLED)
    with PasteSite(seed=707) as site:
        site.add_paste(f"dump part 1\n{ENROLLED[0].hetu};{ENROLLED[0].full_name}\n"
                       f"{STRANGER.hetu};{STRANGER.email};{STRANGER.phone}\n")
        site.add_paste(f"istuntomuistiinpanot:\n{NOTE_OWNER.notes[0]}\n")
        with edit_sources(vahti.home / "sources.toml") as sources:
            sources["pastes"] = Source(name="pastes", kind="paste_listing",
                                       urls=(site.url("/"),), direct=True)
        result = vahti.run("crawl", "pastes", "--json", timeout=180)
        assert result.returncode == 1, result.stderr[-2000:]
    return vahti


def test_search_finds_enrolled_and_never_enrolled_people(crawled, tmp_path):
    vahti = crawled
    code, out = search(vahti, [ENROLLED[0].hetu, STRANGER.email, "  ", "not an id",
                               NEVER.hetu, ENROLLED[1].hetu])
    assert code == 1
    assert out["problems"] == ["line 4: not a recognised identifier"]
    # the line not searched, by number and reason (never the value)
    assert out["invalid_lines"] == [{"line": 4, "reason": "not a recognised identifier"}]
    by = {a["query"]: a for a in out["answers"]}
    assert set(by) == {"line 1", "line 2", "line 5", "line 6"}
    # enrolled and sighted: the ref, the sighting with its page, and the page's candidates
    first = by["line 1"]
    assert first["types"] == ["hetu"] and first["enrolled"] == [ENROLLED[0].ref]
    assert first["seen"] and first["sightings_total"] >= 1
    row = first["sightings"][0]
    assert row["source"] == "pastes" and row["url"].startswith("http://127.0.0.1")
    assert len(row["page_content_id"]) == 32 and row["score"] > 0 and row["via"] == "scan"
    assert first["retained_total"] == 1
    # never enrolled, yet seen: the retained candidates hold the page
    stranger = by["line 2"]
    assert stranger["types"] == ["email"] and stranger["enrolled"] == []
    assert stranger["sightings"] == [] and stranger["retained_total"] == 1
    assert stranger["retained"][0]["url"] == row["url"]
    # enrolled, not seen; and nobody
    assert by["line 6"]["enrolled"] == [ENROLLED[1].ref] and not by["line 6"]["seen"]
    assert not by["line 5"]["seen"] and by["line 5"]["enrolled"] == []
    assert out["query_ms"] > 0 and out["retained_keys"] > 0
    # nothing seen: exit 0
    assert search(vahti, [NEVER.email])[0] == 0


def test_enrolling_later_finds_people_in_pages_seen_before(crawled, tmp_path):
    vahti = crawled
    report = enroll(vahti, tmp_path, ENROLLED + [STRANGER, NOTE_OWNER, NEVER])
    assert report["inserted"] == 3
    assert report["already_exposed"] == 2 and report["already_exposed_pages"] == 2
    # a second enrolment of the same register finds nothing new (idempotent)
    assert enroll(vahti, tmp_path, ENROLLED + [STRANGER, NOTE_OWNER, NEVER])["already_exposed"] == 0

    code, out = search(vahti, [], "--ref", STRANGER.ref, "--ref", NOTE_OWNER.ref,
                       "--ref", NEVER.ref)
    assert code == 1
    stranger, note_owner, never = out["answers"]
    assert {(s["id_type"], s["via"]) for s in stranger["sightings"]} == {
        ("hetu", "retro"), ("email", "retro"), ("phone", "retro")}
    assert {s["url"] for s in stranger["sightings"]} == {r["url"] for r in stranger["retained"]}
    (frag,) = note_owner["sightings"]
    assert frag["id_type"] == "fragment" and frag["via"] == "retro" and frag["score"] >= 0.5
    assert not never["seen"]

    # the retro sightings are new sightings: they raise an alert like any other
    retro = vahti.stored(schema.SIGHTINGS, {"via": "retro"})
    assert {s["ref"] for s in retro} == {STRANGER.ref, NOTE_OWNER.ref}
    assert all(s["start"] == -1 and not s["alerted"] for s in retro)
    raised = vahti.run("alerts", "raise", "--json")
    assert raised.returncode == 0, raised.stderr
    assert "search" not in raised.stderr

    # unknown ref: a clear error
    bad = vahti.run("search", "--ref", "P9999999")
    assert bad.returncode == 2 and "P9999999" in bad.stderr

    # nothing of the people in the database, the cache, or the command's output
    plaintext = [v for p in PEOPLE[:6] for v in (p.hetu, p.email, p.phone, p.full_name)]
    plaintext += [p.notes[0][:60] for p in PEOPLE[:6]]
    written = everything_written(vahti, tmp_path / "dump", [("search output", json.dumps(out))])
    assert any("candidates" in w.where for w in written)
    assert_no_plaintext(written, plaintext)


def test_search_reads_a_file_and_never_argv(crawled, tmp_path):
    vahti = crawled
    ids = tmp_path / "ids.txt"
    ids.write_bytes(STRANGER.hetu.encode() + b"\n\xff\xfe junk\n")
    result = vahti.run("search", "--file", str(ids))
    assert result.returncode == 1, result.stderr
    assert "line 1 (hetu): not enrolled; 0 sightings, 1 pages" in result.stdout
    assert "line 2: not a recognised identifier" in result.stdout
    # an analyst reading only the last line still learns that a line was not searched
    assert result.stdout.rstrip().splitlines()[-1].startswith(
        "1 of 1 seen; 1 line NOT SEARCHED (not a valid identifier: line 2)")
    assert STRANGER.hetu not in result.stdout + result.stderr
    extra = vahti.run("search", STRANGER.hetu)
    assert extra.returncode == 2 and STRANGER.hetu not in extra.stderr


def test_a_hunted_dump_is_retained_for_people_enrolled_later(vahti, tmp_path):
    assert vahti.run("init").returncode == 0
    enroll(vahti, tmp_path, ENROLLED)
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "rows.csv").write_text(f"{STRANGER.hetu};{STRANGER.email}\n{NOTE_OWNER.notes[0]}\n")
    hunted = vahti.run("hunt", str(dump), "--json")
    assert hunted.returncode == 0, hunted.stderr  # nobody enrolled is in it
    code, out = search(vahti, [STRANGER.email])
    assert code == 1 and out["answers"][0]["retained"][0]["url"].startswith("file://")
    report = enroll(vahti, tmp_path, ENROLLED + [STRANGER, NOTE_OWNER])
    assert report["already_exposed"] == 2 and report["already_exposed_pages"] == 1
    plaintext = [STRANGER.hetu, STRANGER.email, NOTE_OWNER.notes[0][:60]]
    written = [w for w in everything_written(vahti, tmp_path / "out")]
    assert_no_plaintext(written, plaintext)


AMBIGUOUS = "0401234567"  # a Finnish mobile number, and a valid CPR number (04.01.(20)23)


def test_a_line_that_reads_as_several_types_is_looked_up_as_each(vahti, tmp_path):
    """One line, two readings: each is looked up and answered on its own."""
    assert vahti.run("init").returncode == 0
    register = tmp_path / "register.csv"
    register.write_text("ref,phone,cpr\nPHONE-1,040 123 4567,\nCPR-1,,040123-4567\n")
    assert vahti.run("enroll", str(register)).returncode == 0
    register.unlink()
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "calls.txt").write_text(f"soita {AMBIGUOUS} heti\n")
    hunted = vahti.run("hunt", str(dump), "--json")
    assert hunted.returncode == 1, hunted.stderr
    (dump / "calls.txt").unlink()

    code, out = search(vahti, [AMBIGUOUS, "+358 40 123 4567"])
    assert code == 1
    both, phone_only = out["answers"]
    assert both["types"] == ["cpr", "phone"]
    assert both["enrolled"] == ["CPR-1", "PHONE-1"]
    readings = {r["type"]: r for r in both["readings"]}
    assert set(readings) == {"cpr", "phone"}
    for id_type, ref in (("cpr", "CPR-1"), ("phone", "PHONE-1")):
        reading = readings[id_type]
        assert reading["enrolled"] == [ref] and reading["seen"]
        assert {s["ref"] for s in reading["sightings"]} == {ref}
        assert reading["retained_total"] == 1 and reading["retained"][0]["id_type"] == id_type
    assert phone_only["types"] == ["phone"] and phone_only["enrolled"] == ["PHONE-1"]
    assert [r["type"] for r in phone_only["readings"]] == ["phone"]

    text = vahti.run("search", input=AMBIGUOUS + "\n")
    assert text.returncode == 1, text.stderr
    assert "line 1 reads as 2 types, each looked up: cpr, phone" in text.stdout
    assert "as cpr: CPR-1; 1 sightings, 1 pages in retained candidates" in text.stdout
    assert "as phone: PHONE-1; 1 sightings, 1 pages in retained candidates" in text.stdout

    written = everything_written(vahti, tmp_path / "out", [("search output", json.dumps(out)),
                                                           ("text", text.stdout)])
    assert_no_plaintext(written, [AMBIGUOUS, "+358401234567"])


def test_a_search_of_only_invalid_lines_is_an_error(vahti):
    assert vahti.run("init").returncode == 0
    lines = "not an id\n131052-308X\nmatti.example.fi@\n"
    for args in ((), ("--json",)):
        result = vahti.run("search", *args, input=lines)
        assert result.returncode == 2, result.stdout
        assert "Traceback" not in result.stderr
        assert ("no line of the input is a valid identifier: 3 lines, e.g. line 1: "
                "not a recognised identifier") in result.stderr
        assert "line 2: not a valid identity code" in result.stderr
        for value in ("not an id", "131052-308X", "matti.example.fi"):
            assert value not in result.stdout + result.stderr
    for empty in ("", "\n  \n# a comment\n"):
        result = vahti.run("search", input=empty)
        assert result.returncode == 2 and "no identifiers given" in result.stderr
