"""`vahti enroll` and `vahti watchlist stats` end to end, and what they leave behind."""

from __future__ import annotations

import csv
import json
import time

import pytest

from tests.privacy import assert_no_plaintext, everything_written
from vahti.demo.synthetic import make_people
from vahti.demo.synthetic import register_csv as synthetic_register

pytestmark = pytest.mark.integration


def register_csv(people, extra_rows=()) -> str:
    return synthetic_register(people, delimiter=";", extra_column=("favourite", "x"),
                              extra_rows=extra_rows)


def plaintexts(people) -> list[str]:
    values = []
    for p in people:
        values += [p.hetu, p.email, p.phone, p.full_name, p.notes[0][:60], p.notes[0][-60:]]
    return values


def enrolled(vahti, tmp_path, n: int, seed: int):
    """A home with `n` synthetic people enrolled from r.csv: (people, the register's path)."""
    vahti.run("init")
    people = make_people(n, seed=seed)
    path = tmp_path / "r.csv"
    path.write_text(register_csv(people))
    assert vahti.run("enroll", str(path)).returncode == 0
    return people, path


def test_enroll_is_idempotent_reports_problems_and_stores_no_plaintext(vahti, tmp_path):
    assert vahti.run("init").returncode == 0
    people = make_people(300, seed=11)
    bad = ["BAD", "131052-308X", "not@@mail", "12", "Maija Meikäläinen", "1999-02-30", "", ""]
    path = tmp_path / "register.csv"
    path.write_text(register_csv(people, [bad]), encoding="utf-8")

    first = vahti.run("enroll", str(path), "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["enrolled"] == 300 and report["inserted"] == 300
    assert report["values"]["hetu"] == 300 and report["values"]["notes"] == 300
    assert report["unknown_columns"] == ["favourite"]
    assert "unknown columns ignored: favourite" in first.stderr
    problems = {(p["row"], p["column"]) for p in report["problems"]}
    assert {(302, "hetu"), (302, "email"), (302, "phone"), (302, "birth_date")} <= problems

    again = json.loads(vahti.run("enroll", str(path), "--json").stdout)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 300)
    assert again["watchlist_version"] == report["watchlist_version"]

    stats = json.loads(vahti.run("watchlist", "stats", "--json").stdout)
    assert stats["people"] == 300
    assert stats["identifiers"] == {"email": 300, "hetu": 300, "phone": 300}
    assert stats["corroborating"] == {"birth_date": 300, "name": 300}
    assert stats["records_with_notes"] == 300 and stats["fingerprints"] > 300

    human = vahti.run("enroll", str(path))
    written = everything_written(vahti, tmp_path / "dump", extra=[
        ("enroll stdout", first.stdout + human.stdout),
        ("enroll stderr", first.stderr + human.stderr),
    ])
    assert_no_plaintext(written, plaintexts(people) + ["131052-308X", "not@@mail"])


def test_replace_removes_people_not_in_the_new_register(vahti, tmp_path):
    people, path = enrolled(vahti, tmp_path, 50, seed=12)
    path.write_text(register_csv(people[:20]))
    report = json.loads(vahti.run("enroll", str(path), "--replace", "--json").stdout)
    assert report["removed"] == 30 and report["unchanged"] == 20
    stats = json.loads(vahti.run("watchlist", "stats", "--json").stdout)
    assert stats["people"] == 20


def test_strict_and_unreadable_registers(vahti, tmp_path):
    vahti.run("init")
    path = tmp_path / "r.csv"
    path.write_text("ref,hetu\nA,131052-308T\nB,131052-308X\n")
    assert vahti.run("enroll", str(path)).returncode == 0
    strict = vahti.run("enroll", str(path), "--strict")
    assert strict.returncode == 2
    path.write_text("hetu\n131052-308T\n")
    missing_ref = vahti.run("enroll", str(path))
    assert missing_ref.returncode == 2 and "no 'ref' column" in missing_ref.stderr
    assert "131052-308T" not in missing_ref.stderr + missing_ref.stdout
    nothing = vahti.run("enroll", str(tmp_path / "absent.csv"))
    assert nothing.returncode == 2 and "cannot read" in nothing.stderr
    via_stdin = vahti.run("enroll", "-", "--json", input="ref,hetu\nC,131052-308T\n")
    assert json.loads(via_stdin.stdout)["enrolled"] == 1


def test_register_in_finnish_with_map_short_notes_and_identifier_refs(vahti, tmp_path):
    assert vahti.run("init").returncode == 0
    people = make_people(40, seed=21)
    rows = [["Viite", "Henkilötunnus", "Sähköposti", "Matkapuhelin", "Etunimi", "Sukunimi",
             "Tunnus", "Kengännumero", "Muistiinpanot"]]
    for i, p in enumerate(people):
        note = p.notes[0] if i % 4 else "lyhyt merkintä"  # 10 people's notes too short
        rows.append([p.ref, p.hetu, p.email, p.phone, p.first_name, p.last_name, "", "41", note])
    identifier_refs = ["131052-308T", "P-010101A123N", "maija@example.fi"]
    rows += [[ref, "", f"x{i}@example.org"] + [""] * 6 for i, ref in enumerate(identifier_refs)]
    path = tmp_path / "rekisteri.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out, delimiter=";", lineterminator="\n").writerows(rows)

    run = vahti.run("enroll", str(path), "--json", "--map", "Tunnus=ignore",
                    "--map", "viite=ref")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["enrolled"] == 40
    assert report["values"]["hetu"] == 40 and report["values"]["email"] == 40
    assert report["values"]["phone"] == 40 and report["values"]["name"] == 40
    assert report["values"]["notes"] == 30
    assert report["notes_too_short"] == 10 and report["notes_min_words"] == 16
    assert report["unknown_columns"] == ["Kengännumero"]
    assert report["ignored_columns"] == ["Tunnus"]
    assert "unknown columns ignored: Kengännumero" in run.stderr
    ref_problems = [p for p in report["problems"] if p["column"] == "Viite"]
    assert [p["row"] for p in ref_problems] == [42, 43, 44]
    assert ref_problems[0]["reason"] == (
        "looks like an identity code (hetu); a ref must be an opaque reference")
    assert ref_problems[1]["reason"].startswith("holds an identity code (hetu)")
    assert ref_problems[2]["reason"].startswith("looks like an e-mail address (email)")

    human = vahti.run("enroll", str(path), "--map", "Tunnus=ignore")
    assert human.returncode == 0, human.stderr
    assert ("notes: 10 people's notes are too short to ever match as fragments "
            "(need at least 16 words)") in human.stdout
    written = everything_written(vahti, tmp_path / "dump", extra=[
        ("enroll output", run.stdout + run.stderr + human.stdout + human.stderr)])
    assert_no_plaintext(written, identifier_refs + ["010101A123N", "lyhyt merkintä"]
                        + plaintexts(people))


def test_enrolling_nobody_is_an_error_and_removes_nobody(vahti, tmp_path):
    _, path = enrolled(vahti, tmp_path, 5, seed=22)

    path.write_text("ref,Nimi,Kengännumero\nA1,Anna Virtanen,41\n")
    run = vahti.run("enroll", str(path), "--replace")
    assert run.returncode == 2
    assert "no identifier or notes column: columns found: ref, Nimi, Kengännumero" in run.stderr
    assert "Anna" not in run.stderr + run.stdout

    path.write_text("ref,hetu,email\n")
    run = vahti.run("enroll", str(path), "--replace")
    assert run.returncode == 2
    assert "nobody enrolled: the register has no rows under its header" in run.stderr

    path.write_text("ref,hetu,email\nA1,131052-308X,\nA2,,not-mail\n")
    run = vahti.run("enroll", str(path), "--replace", "--json")
    assert run.returncode == 2
    assert "nobody enrolled: none of the 2 rows could be enrolled" in run.stderr
    assert "columns read: ref (ref), hetu (hetu), email (email)" in run.stderr
    assert json.loads(run.stdout)["problems"][0]["column"] == "hetu"
    assert "131052-308X" not in run.stderr + run.stdout
    stats = json.loads(vahti.run("watchlist", "stats", "--json").stdout)
    assert stats["people"] == 5  # --replace removed nobody


def test_customer_numbers_without_pattern_and_absurd_registers_fail_fast(vahti, tmp_path):
    vahti.run("init")
    path = tmp_path / "r.csv"
    path.write_text("ref,hetu,Asiakasnumero\nA,131052-308T,AB123456\nB,010101A123N,CD654321\n")
    run = vahti.run("enroll", str(path))
    assert run.returncode == 2
    assert 'customer_id_pattern = "[A-Z]{2}[0-9]{6}"' in run.stderr
    assert "AB123456" not in run.stderr + run.stdout

    path.write_text(",".join(["ref", "hetu"] + [f"c{i}" for i in range(100_000)])
                    + "\nA,131052-308T\n")
    start = time.monotonic()
    run = vahti.run("enroll", str(path))
    took = time.monotonic() - start
    assert run.returncode == 2
    assert "row 1: 100002 columns; a register may have at most 1000" in run.stderr
    assert took < 10  # the command's start included; the check itself takes milliseconds
