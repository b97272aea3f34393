"""The parts of `vahti demo` that need no tor: the fictional clinic's scenario, the
network-namespace logic, and what the demo reads from alerts and search output.
The whole demo runs in tests/tor/test_demo.py."""

from __future__ import annotations

import json
import os

import pytest
from stdnum.fi import hetu as stdnum_hetu

from vahti.demo import netns
from vahti.demo.clinic import make_scenario
from vahti.demo.guard import NotIsolatedError
from vahti.demo.story import AlertLog, _pages_seen, alert_line, alert_row, page_of


@pytest.fixture(scope="module")
def scenario():
    return make_scenario(400)


def test_scenario_is_fictional_and_consistent(scenario):
    people = scenario.register + scenario.decoys
    assert len(scenario.register) == 400 and len(scenario.decoys) == 10
    assert [p.ref for p in scenario.register] == [f"AT-{i:05d}" for i in range(1, 401)]
    for p in people:
        stdnum_hetu.validate(p.hetu, allow_temporary=True)
        assert 900 <= int(p.hetu[7:10]) <= 999  # temporary codes only, never a permanent one
        assert p.email.split("@")[1].endswith(("example.com", "example.org", "example.net",
                                               "example.fi"))
    for values in ([p.hetu for p in people], [p.email.lower() for p in people],
                   [p.phone for p in people]):
        assert len(set(values)) == len(values)  # each identifier names one person


def test_scenario_leaks_part_of_the_register(scenario):
    register = {p.ref for p in scenario.register}
    exposed = scenario.exposed.refs
    assert exposed <= register and len(exposed) == 24  # max(24, 6 %)
    assert scenario.archive.refs and all(piece.refs for piece in scenario.pieces)
    pasted = set().union(*(piece.refs for piece in scenario.pieces))
    assert not pasted & scenario.archive.refs
    assert not {p.ref for p in scenario.never_leaked()} & exposed
    assert all(not quiet.refs for quiet in scenario.quiet)
    for person in scenario.archive_decoys():
        assert person.ref.startswith("DECOY-") and person.hetu in scenario.archive.text
    assert scenario.archive_decoys()
    csv_text = scenario.register_csv()
    assert csv_text.startswith("ref,hetu,email,phone,name,birth_date,notes\n")
    assert csv_text.count("\nAT-") == 400


def test_scenario_is_reproducible(scenario):
    again = make_scenario(400)
    assert [p.hetu for p in again.register] == [p.hetu for p in scenario.register]
    assert [p.text for p in again.pieces] == [p.text for p in scenario.pieces]
    with pytest.raises(ValueError):
        make_scenario(10)


def test_unshare_command_for_root_and_users(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert netns.unshare_command()[1:] == ["--net"]
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert netns.unshare_command()[1:] == ["--net", "--map-root-user"]


def test_reexec_refuses_a_second_time(monkeypatch):
    monkeypatch.setenv(netns.MARK, "1")
    with pytest.raises(NotIsolatedError, match="still has more than loopback"):
        netns.reexec_isolated(["demo"])


def test_alert_rows_hold_counts_and_refs_only(tmp_path):
    path = tmp_path / "alerts.jsonl"
    alert = {"type": "alert", "kind": "sighting", "source": "pastes",
             "url": "http://" + "a" * 56 + ".onion/raw/AbCd1234", "persons": 5,
             "counts": {"hetu": 3, "email": 2}, "refs": ["AT-1", "AT-2", "AT-3", "AT-4", "AT-5"],
             "fragment_scores": [{"ref": "AT-5", "score": 0.8}]}
    with open(path, "w") as fh:
        fh.write(json.dumps(alert) + "\n" + json.dumps({**alert, "kind": "health",
                                                         "problem": "failing"}))
    log = AlertLog(path)
    assert [a["kind"] for a in log.read_new()] == ["sighting"]  # the last line is not whole
    with open(path, "a") as fh:
        fh.write("\n")
    assert [a["kind"] for a in log.read_new()] == ["health"]
    assert log.refs == {"AT-1", "AT-2", "AT-3", "AT-4", "AT-5"}
    assert alert_row(1, alert) == ["1", "pastes", "aaaaaaaa…onion/raw/AbCd1234", "5",
                                   "email 2, hetu 3", "1", "AT-1, AT-2, AT-3 +2"]
    assert alert_line(2, {**alert, "kind": "health", "problem": "failing"}) == (
        "alert 2: pastes: health: failing")
    assert page_of("http://127.0.0.1:8080/x?y=1") == "127.0.0.1/x?y=1"


def test_pages_seen_counts_distinct_pages():
    answer = {"answers": [
        {"seen": True, "sightings": [{"url": "u1"}, {"url": "u2"}], "retained": []},
        {"seen": True, "sightings": [{"url": "u1"}], "retained": [{"url": "u3"}]},
    ]}
    assert _pages_seen(json.dumps(answer)) == 3
    assert _pages_seen("\n".join(json.dumps(a) for a in answer["answers"])) == 3
    assert _pages_seen("not json") == 0
