"""`vahti enroll` and `vahti watchlist stats` end to end, and what they leave behind."""

from __future__ import annotations

import json

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
    vahti.run("init")
    people = make_people(50, seed=12)
    path = tmp_path / "r.csv"
    path.write_text(register_csv(people))
    assert vahti.run("enroll", str(path)).returncode == 0
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
