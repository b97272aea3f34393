"""Enroll thousands of people, scan dumps of every format that also hold as many
non-enrolled decoys, and measure: identifier recall >= 0.99, fragment recall
>= 0.95, no decoy or unplanted finding ever, and nothing plaintext left behind."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.integration.dumps import write_dumps
from tests.privacy import assert_no_plaintext, everything_written
from vahti.demo.synthetic import make_people, register_csv

pytestmark = pytest.mark.integration

PEOPLE = 2000


def distinct_decoys(enrolled, decoys):
    """Decoys share no identifier with an enrolled person (else a hit would be right)."""
    taken = {v for p in enrolled for v in (p.hetu, p.email.lower(), p.phone.replace(" ", ""))}
    return [d for d in decoys
            if not {d.hetu, d.email.lower(), d.phone.replace(" ", "")} & taken]


@pytest.fixture(scope="module")
def scanned(tmp_path_factory, mongo_uri):
    import uuid

    from tests.conftest import VahtiRunner, base_env

    tmp = tmp_path_factory.mktemp("recall")
    env = base_env(tmp / "home")
    env["VAHTI_MONGO_URI"] = mongo_uri
    env["VAHTI_MONGO_DB"] = "t_" + uuid.uuid4().hex[:12]
    vahti = VahtiRunner(tmp / "home", env)
    enrolled = make_people(PEOPLE, seed=101)
    decoys = distinct_decoys(enrolled, [
        p for p in make_people(PEOPLE, seed=202)
    ])
    for d in decoys:
        d.ref = "DECOY-" + d.ref
    assert vahti.run("init").returncode == 0
    (tmp / "register.csv").write_text(register_csv(enrolled), encoding="utf-8")
    enrolled_result = vahti.run("enroll", str(tmp / "register.csv"), "--json")
    assert enrolled_result.returncode == 0, enrolled_result.stderr
    planted = write_dumps(tmp / "dumps", enrolled, decoys, excerpts_of=enrolled[:400])
    result = vahti.run("scan", str(tmp / "dumps"), "--json", "--jobs", "2", timeout=600)
    assert result.returncode == 1, result.stderr  # 1: found
    findings = [json.loads(line) for line in result.stdout.splitlines()]
    return vahti, tmp, enrolled, decoys, planted, findings, result


def test_identifier_recall_and_no_false_findings(scanned):
    _, _, _, _, planted, findings, result = scanned
    found = {(f["location"], f["ref"], f["id_type"]) for f in findings
             if f["kind"] == "identifier"}
    assert not any(ref.startswith("DECOY-") for _, ref, _ in found)
    unplanted = found - planted.expected
    assert not unplanted, f"{len(unplanted)} findings that were not planted, e.g. " \
        f"{sorted(unplanted)[:3]}"
    by_type = Counter(t for _, _, t in planted.expected)
    hit_by_type = Counter(t for _, _, t in planted.expected & found)
    recalls = {t: hit_by_type[t] / by_type[t] for t in by_type}
    print("identifier recall:", recalls, "planted:", dict(by_type))
    missed_locations = Counter(loc.rsplit("/", 1)[-1] for loc, _, _ in planted.expected - found)
    assert all(r >= 0.99 for r in recalls.values()), (recalls, missed_locations.most_common(5))
    assert "skipped" not in result.stderr


def test_fragment_recall(scanned):
    _, _, _, _, planted, findings, _ = scanned
    found = {(f["location"], f["ref"]) for f in findings if f["kind"] == "fragment"}
    recall = len(planted.fragments & found) / len(planted.fragments)
    print("fragment recall:", recall, "of", len(planted.fragments))
    missed = Counter(loc.rsplit("/", 1)[-1] for loc, _ in planted.fragments - found)
    assert recall >= 0.95, missed.most_common()
    wrong = found - planted.fragments
    assert not wrong, f"{len(wrong)} fragment findings not planted"


def test_offsets_point_at_the_planted_text(scanned):
    _, tmp, enrolled, _, _, findings, _ = scanned
    by_ref = {p.ref: p for p in enrolled}
    paste = str(tmp / "dumps" / "paste.txt")
    text = (tmp / "dumps" / "paste.txt").read_text(encoding="utf-8")
    checked = 0
    for f in findings:
        if f["location"] == paste and f["id_type"] == "email":
            span = text[f["start"]:f["end"]]
            local = by_ref[f["ref"]].email.split("@")[0]
            assert local.lower() in span.lower()
            checked += 1
    assert checked > 10


@pytest.mark.slow  # over 15 s (pytest --durations)
def test_sightings_stored_once_and_nothing_plaintext(scanned):
    vahti, tmp, enrolled, decoys, _, findings, result = scanned
    status = json.loads(vahti.run("status", "--json").stdout)
    assert status["storage"]["counts"]["sightings"] == len(findings)
    rerun = vahti.run("scan", str(tmp / "dumps"), "--json", timeout=600)
    assert rerun.returncode == 1
    status = json.loads(vahti.run("status", "--json").stdout)
    assert status["storage"]["counts"]["sightings"] == len(findings)  # idempotent
    assert status["storage"]["counts"]["runs"] == 2
    values = []
    for p in enrolled[:300] + decoys[:100]:
        values += [p.hetu, p.email, p.phone, p.full_name, " ".join(p.notes[0].split()[:8])]
    written = everything_written(vahti, tmp / "privacy-dump", extra=[
        ("scan stdout", result.stdout), ("scan stderr", result.stderr)])
    assert_no_plaintext(written, values)


def test_types_filter_no_store_and_bad_types(scanned):
    vahti, tmp, _, _, planted, findings, _ = scanned
    before = json.loads(vahti.run("status", "--json").stdout)["storage"]["counts"]
    only = vahti.run("scan", str(tmp / "dumps" / "paste.txt"), "--json", "--types", "hetu",
                     "--no-store")
    assert only.returncode == 1, only.stderr
    got = [json.loads(line) for line in only.stdout.splitlines()]
    assert got and {f["id_type"] for f in got} == {"hetu"}
    expected = {(loc, ref) for loc, ref, t in planted.expected
                if t == "hetu" and loc.endswith("/paste.txt")}
    assert {(f["location"], f["ref"]) for f in got} == expected
    after = json.loads(vahti.run("status", "--json").stdout)["storage"]["counts"]
    assert after["sightings"] == before["sightings"] and after["runs"] == before["runs"]
    bad = vahti.run("scan", str(tmp / "dumps" / "paste.txt"), "--types", "shoe_size")
    assert bad.returncode == 2 and "unknown identifier types" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_every_enrolled_phone_in_a_comma_separated_dump_is_found(vahti, tmp_path):
    """Phones right after ",", ":", ".", "(", "tel:" (every delimiter of a CSV, a JSON
    export, an SQL dump, a chat log): every enrolled phone is found, no decoy ever."""
    from tests.integration.dumps import phone_spellings
    from tests.unit.test_detectors import PHONE_DELIMITERS, PHONE_LEADS

    enrolled = make_people(400, seed=303)
    decoys = distinct_decoys(enrolled, make_people(400, seed=404))
    assert vahti.run("init").returncode == 0
    (tmp_path / "register.csv").write_text(register_csv(enrolled), encoding="utf-8")
    assert vahti.run("enroll", str(tmp_path / "register.csv")).returncode == 0
    (tmp_path / "register.csv").unlink()
    dump = tmp_path / "dump"
    dump.mkdir()
    befores = PHONE_DELIMITERS + [lead for lead in PHONE_LEADS if not lead.endswith("+")]
    rows = {"contacts.csv": ["id,name,phone,city"], "export.jsonl": [], "dump.sql": [],
            "chat.log": []}
    planted: set[tuple[str, str]] = set()
    for i, p in enumerate(enrolled + decoys):
        phone = phone_spellings(p.phone)[i % 6]
        rows["contacts.csv"].append(f"{i},{p.full_name},{phone},Helsinki")
        rows["export.jsonl"].append(json.dumps({"id": i, "phone": phone}, ensure_ascii=False))
        rows["dump.sql"].append(f"INSERT INTO c VALUES ({i},'{phone}');")
        before, after = befores[i % len(befores)], PHONE_DELIMITERS[i % len(PHONE_DELIMITERS)]
        rows["chat.log"].append(f"[{i}] soita {before}{phone}{after} kiitos")
        if i < len(enrolled):
            planted |= {(str(dump / name), p.ref) for name in rows}
    for name, lines in rows.items():
        (dump / name).write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = vahti.run("scan", str(dump), "--json", timeout=600)
    assert result.returncode == 1, result.stderr
    findings = [json.loads(line) for line in result.stdout.splitlines()]
    found = {(f["location"], f["ref"]) for f in findings if f["id_type"] == "phone"}
    missed = Counter(loc.rsplit("/", 1)[-1] for loc, _ in planted - found)
    assert found == planted, (len(planted - found), missed)  # recall 1.0, nothing else
    values = [v for p in enrolled + decoys for v in (p.phone, p.full_name)]
    written = everything_written(vahti, tmp_path / "privacy-dump", extra=[
        ("scan stdout", result.stdout), ("scan stderr", result.stderr)])
    assert_no_plaintext(written, values)
