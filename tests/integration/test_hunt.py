"""`vahti hunt PATH`: a dump just posted, read from disk (a directory with a text file,
a zip archive and a CSV), scanned, stored and reported per person ref; decoys (valid
identifiers of people nobody enrolled) never reported, nothing plaintext left."""

from __future__ import annotations

import json
import random
import uuid
import zipfile
from pathlib import Path

import pytest

from tests.privacy import assert_no_plaintext, everything_written
from vahti.demo.sites.content import ID_TYPES, Planted, plant_paste_texts
from vahti.demo.synthetic import make_people, register_csv
from vahti.matchers.contentid import ContentIds
from vahti.matchers.keys import load_key_file

pytestmark = pytest.mark.integration

SEED = 611


def cast(seed: int = SEED, enrolled: int = 30, decoys: int = 15):
    people = make_people(enrolled + decoys, seed=seed)
    for i, p in enumerate(people[enrolled:]):
        p.ref = f"DECOY-{seed}-{i}"  # never enrolled
    return people[:enrolled], people[enrolled:]


def plaintext(people) -> list[str]:
    values = []
    for p in people:
        values += [p.hetu, p.email, p.phone, p.full_name, " ".join(p.notes[0].split()[:12])]
    return values


def enroll(vahti, tmp_path: Path, people) -> None:
    assert vahti.run("init").returncode == 0
    register = tmp_path / "register.csv"
    register.write_text(register_csv(people), encoding="utf-8")
    result = vahti.run("enroll", str(register))
    assert result.returncode == 0, result.stderr
    register.unlink()




def write_dump(root: Path, texts: list[Planted]) -> dict[str, Planted]:
    """Three texts as a dump directory: paste.txt, leak.zip!part2.txt, more/rows.csv.
    Returns location (as hunt reports it) -> what was planted there."""
    root.mkdir()
    (root / "more").mkdir()
    paste, member, rows = texts
    (root / "paste.txt").write_text(paste.text, encoding="utf-8")
    with zipfile.ZipFile(root / "leak.zip", "w") as zf:
        zf.writestr("part2.txt", member.text.encode("utf-8"))
    (root / "more" / "rows.csv").write_text(rows.text, encoding="utf-8")
    return {str(root / "paste.txt"): paste, str(root / "leak.zip") + "!part2.txt": member,
            str(root / "more" / "rows.csv"): rows}


def found_by_location(report: dict) -> dict[str, dict[str, set[str]]]:
    """location -> id_type -> refs, from hunt's JSON."""
    out: dict[str, dict[str, set[str]]] = {}
    for person in report["found"]:
        for place in person["locations"]:
            for id_type in place["types"]:
                out.setdefault(place["location"], {}).setdefault(id_type, set()).add(
                    person["ref"])
    return out


def assert_location_exact(found: dict[str, set[str]], planted: Planted) -> None:
    for id_type in ID_TYPES:
        assert found.get(id_type, set()) == planted.refs_by_type[id_type], id_type
    fragments = found.get("fragment", set())
    assert fragments <= planted.fragment_refs
    assert len(fragments) >= 0.9 * len(planted.fragment_refs)


def test_hunt_path_finds_the_planted_people_exactly_and_stores_them(vahti, tmp_path):
    enrolled, decoys = cast()
    texts = plant_paste_texts(enrolled[:18], decoys, random.Random(SEED), texts=3)
    enroll(vahti, tmp_path, enrolled)
    dump = tmp_path / "dump"
    planted = write_dump(dump, texts)

    result = vahti.run("hunt", str(dump), "--json")
    assert result.returncode == 1, result.stderr  # 1: enrolled people found
    report = json.loads(result.stdout)
    assert report["mode"] == "path" and report["via"] == "local" and report["source"] == "hunt"

    # per location, per identifier type: exactly who was planted there
    found = found_by_location(report)
    assert set(found) <= set(planted)
    for location, what in planted.items():
        assert_location_exact(found.get(location, {}), what)
    everyone = {p["ref"] for p in report["found"]}
    total = Planted.union(texts)
    assert set().union(*total.refs_by_type.values()) <= everyone <= total.refs
    assert not any(ref.startswith("DECOY-") for ref in everyone)

    # each person's totals are the sum over their locations, content ids are of the bytes
    member_bytes = zipfile.ZipFile(dump / "leak.zip").read("part2.txt")
    ids = ContentIds(load_key_file(vahti.home / "key"))
    id_of = {str(dump / "paste.txt"): ids.of_bytes((dump / "paste.txt").read_bytes()),
             str(dump / "leak.zip") + "!part2.txt": ids.of_bytes(member_bytes),
             str(dump / "more" / "rows.csv"):
                 ids.of_bytes((dump / "more" / "rows.csv").read_bytes())}
    for person in report["found"]:
        assert person["count"] == sum(p["count"] for p in person["locations"])
        assert 0 < person["best_score"] <= 1
        for place in person["locations"]:
            assert place["content_id"] == id_of[place["location"]]
            assert place["url"].startswith("file://")
    totals = report["totals"]
    assert totals["people"] == len(everyone) and totals["inputs"] == 3
    assert totals["findings"] == sum(p["count"] for p in report["found"])
    assert totals["new_sightings"] == totals["findings"]

    # stored: sightings for exactly those refs, page records with content ids and no text
    sightings = vahti.stored("sightings", {"source": "hunt"})
    assert {s["ref"] for s in sightings} == everyone
    assert len(sightings) == totals["findings"]
    page_records = vahti.stored("pages", {"source": "hunt"})
    assert {p["content_id"] for p in page_records} >= set(id_of.values())
    assert not any("text" in p or "body" in p for p in page_records)
    runs = vahti.stored("runs", {"source": "hunt"})
    assert [(r["kind"], r["state"], r["hits"]) for r in runs] == [
        ("hunt", "done", totals["findings"])]

    # the table for people shows refs and counts, never a value
    table = vahti.run("hunt", str(dump))
    assert table.returncode == 1, table.stderr
    assert all(ref in table.stdout for ref in everyone)
    assert f"{len(everyone)} enrolled people found" in table.stdout
    assert "0 new sightings stored" in table.stdout  # the same dump again adds nothing

    written = everything_written(vahti, tmp_path / "db-dump", extra=[
        ("hunt --json stdout", result.stdout), ("hunt stderr", result.stderr),
        ("hunt table", table.stdout + table.stderr)])
    assert_no_plaintext(written, plaintext(enrolled + decoys) + [t.text[:60] for t in texts])


def test_hunt_path_with_nobody_enrolled_in_it_exits_0(vahti, tmp_path):
    enrolled, decoys = cast(seed=612)
    enroll(vahti, tmp_path, enrolled)
    (only_decoys,) = plant_paste_texts([], decoys, random.Random(612), texts=1)
    dump = tmp_path / "decoys.txt"
    dump.write_text(only_decoys.text, encoding="utf-8")
    result = vahti.run("hunt", str(dump), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["found"] == [] and report["totals"]["people"] == 0
    assert report["totals"]["inputs"] == 1
    assert vahti.stored("sightings") == []
    assert len(vahti.stored("pages", {"source": "hunt"})) == 1  # the page is recorded
    table = vahti.run("hunt", str(dump))
    assert table.returncode == 0 and "nobody on the watchlist is in it" in table.stdout


def test_hunt_errors_exit_2(vahti, tmp_path):
    enrolled, _ = cast(seed=613, enrolled=3, decoys=0)
    assert vahti.run("init").returncode == 0
    empty = tmp_path / "x.txt"
    empty.write_text("nothing\n")
    # nobody enrolled yet: an error, not "nobody found"
    result = vahti.run("hunt", str(empty))
    assert result.returncode == 2 and "watchlist is empty" in result.stderr
    enroll(vahti, tmp_path, enrolled)
    missing = vahti.run("hunt", str(tmp_path / ("nope-" + uuid.uuid4().hex)))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert vahti.run("hunt", "ftp://example.org/dump.txt").returncode == 2
    assert vahti.run("hunt", str(empty), "--direct").returncode == 2
