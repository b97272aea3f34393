"""Alert triage end to end (issue 14): `vahti alerts ack|resolve|false-positive` as real
subprocesses against stored alerts, the alert_update rows delivered to real channels on
loopback, false positives remembered by the alert raiser, forgotten by `vahti forget`,
carried by `db dump/load`, and comments that would hold an identifier refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import VahtiRunner, base_env
from tests.integration.test_hunt import enroll
from tests.privacy import assert_no_plaintext, everything_written
from tests.support.receivers import HOOK_SECRET, mail_channel
from vahti.demo.synthetic import make_people
from vahti.scheduler.alerting import raise_sighting_alerts
from vahti.scheduler.channels.webhook import verify
from vahti.storage import false_positives, keyids, schema
from vahti.storage.sightings import Sighting, record_sightings

pytestmark = pytest.mark.integration

PAGE_A = "http://pastesiteexample.onion/raw/aaa111"
PAGE_B = "http://mirrorexample.onion/copy/aaa111"  # the same content, copied elsewhere
PAGE_C = "http://pastesiteexample.onion/raw/ccc333"
CONTENT_1 = "c1" * 16
CONTENT_2 = "c2" * 16
PERSON = make_people(1, seed=1414)[0]
ENV = {"HOOK_SECRET": HOOK_SECRET}


def seen(page: str, ref: str, content: str = CONTENT_1, start: int = 0,
         id_type: str = "hetu") -> Sighting:
    return Sighting(page_url=page, source="pastes", ref=ref, id_type=id_type,
                    kind="identifier", start=start, end=start + 11, score=1.0,
                    page_content_id=content)


def run_ok(vahti, *args, **kw):
    result = vahti.run(*args, **kw)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def run_json(vahti, *args, **kw):
    return json.loads(run_ok(vahti, *args, "--json", **kw).stdout)


def write_config(vahti, text: str) -> None:
    vahti.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    (vahti.home / "config.toml").write_text(text)


def raise_one(vahti, sightings: list[Sighting]) -> list[str]:
    with vahti.storage() as db:
        record_sightings(db, sightings)
    return run_json(vahti, "alerts", "raise")["alert_keys"]


def alert_doc(vahti, key: str) -> dict:
    (doc,) = vahti.stored(schema.ALERTS, {"alert_key": key})
    return doc


# --- the CLI ------------------------------------------------------------------------------


def test_ack_resolve_reopen_by_key_prefix_with_history(vahti):
    write_config(vahti, "")
    (key,) = raise_one(vahti, [seen(PAGE_A, "P1"), seen(PAGE_A, "P2", start=30)])
    assert alert_doc(vahti, key)["state"] == "new"
    listed = run_json(vahti, "alerts", "list")
    assert listed[0]["state"] == "new" and listed[0]["history"] == []

    acked = run_ok(vahti, "alerts", "ack", key[:8], "--comment", "on it", "--by", "anna")
    assert f"alert {key}: acknowledged (was new) by anna" in acked.stdout
    again = run_ok(vahti, "alerts", "ack", key[:8], "--comment", "on it", "--by", "anna")
    assert "already acknowledged" in again.stdout and "nothing changed" in again.stdout
    doc = alert_doc(vahti, key)
    assert doc["state"] == "acknowledged" and len(doc["history"]) == 1  # the repeat: no-op

    done = run_json(vahti, "alerts", "resolve", key, "--comment", "taken down 2026-12-04")
    assert done["changed"] and done["previous_state"] == "acknowledged"
    assert done["by"]  # the OS user by default
    refused = vahti.run("alerts", "false-positive", key)
    assert refused.returncode == 2 and "reopen it first" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    reopened = run_json(vahti, "alerts", "ack", key, "--by", "ben")
    assert reopened["changed"] and reopened["previous_state"] == "resolved"

    doc = alert_doc(vahti, key)
    assert [(h["previous_state"], h["state"], h["by"]) for h in doc["history"]] == [
        ("new", "acknowledged", "anna"), ("acknowledged", "resolved", done["by"]),
        ("resolved", "acknowledged", "ben")]
    assert doc["history"][0]["comment"] == "on it" and "comment" not in doc["history"][2]
    item = run_json(vahti, "alerts", "list", "--state", "acknowledged")[0]
    assert item["state"] == "acknowledged" and item["state_by"] == "ben"
    assert item["state_changed"].endswith("Z") and len(item["history"]) == 3
    assert run_json(vahti, "alerts", "list", "--state", "resolved") == []
    table = run_ok(vahti, "alerts", "list", extra_env={"COLUMNS": "300"}).stdout
    assert "acknowledged by ben" in table


def test_unknown_ambiguous_and_malformed_ids_are_one_clear_line(vahti):
    write_config(vahti, "")
    keys = raise_one(vahti, [seen(PAGE_A, "P1"), seen(PAGE_C, "P2", CONTENT_2)])
    assert len(keys) == 2
    for given, expected in (("s-", "more than one alert"), ("s-zzzz", "no alert has a key"),
                            (PERSON.hetu + "x!", "not an alert key")):
        result = vahti.run("alerts", "ack", given)
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr
    assert PERSON.hetu not in result.stderr
    digits = vahti.run("alerts", "ack", "19811218-9876")  # a personnummer as the ID
    assert digits.returncode == 2 and "19811218" not in digits.stderr
    assert {d["state"] for d in vahti.stored(schema.ALERTS)} == {"new"}


def test_a_comment_holding_an_identity_code_is_refused_and_never_written(vahti, tmp_path):
    """The analyst pastes an identity code into a comment at 3 a.m.: refused with one
    line that does not repeat it, nothing changed, and it is nowhere vahti writes."""
    write_config(vahti, "")
    (key,) = raise_one(vahti, [seen(PAGE_A, "P1")])
    attempts = [
        vahti.run("alerts", "false-positive", key, "--comment",
                  f"asiakas {PERSON.hetu} soitti, ei meidän"),
        vahti.run("alerts", "ack", key, "--comment", f"mail {PERSON.email}"),
        vahti.run("alerts", "resolve", key, "--by", PERSON.email),
        vahti.run("alerts", "ack", key, "--comment", "x" * 501),
    ]
    for result in attempts:
        assert result.returncode == 2, result.stdout + result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "nothing was changed" in \
            result.stderr
    doc = alert_doc(vahti, key)
    assert doc["state"] == "new" and doc["history"] == []
    assert vahti.stored(schema.FALSE_POSITIVES) == []
    outputs = [(f"attempt {i}", r.stdout + r.stderr) for i, r in enumerate(attempts)]
    outputs.append(("list", run_ok(vahti, "alerts", "list", "--json").stdout))
    written = everything_written(vahti, tmp_path / "dump", outputs)
    assert_no_plaintext(written, [PERSON.hetu, PERSON.email])


def test_a_comment_is_stored_and_shown_inert(vahti):
    write_config(vahti, "")
    (key,) = raise_one(vahti, [seen(PAGE_A, "P1")])
    run_ok(vahti, "alerts", "ack", key, "--comment", "\x1b[2Jcleared [red]x[/] \u202eevil")
    assert alert_doc(vahti, key)["state_comment"] == "\x1b[2Jcleared [red]x[/] \u202eevil"
    table = run_ok(vahti, "alerts", "list", extra_env={"COLUMNS": "300"}).stdout
    assert "\x1b" not in table and "\u202e" not in table
    assert "\\x1b[2Jcleared [red]x[/]" in table and "\\u202eevil" in table


# --- updates sent out ---------------------------------------------------------------------


def test_state_changes_reach_a_webhook_and_stdout_not_email_by_default(vahti, webhook,
                                                                       smtp_server, tmp_path):
    hook = webhook()
    port, cert, mailbox = smtp_server
    siem = tmp_path / "siem.jsonl"
    write_config(vahti, f'[channels.hook]\ntype = "webhook"\nurl = "{hook.url}"\n'
                        f'secret_env = "HOOK_SECRET"\ntimeout_s = 5.0\n'
                        f'[channels.siem]\ntype = "stdout"\npath = "{siem}"\n'
                        + mail_channel(port, cert, 'password_env = "SMTP_PASSWORD"'))
    env = {**ENV, "SMTP_USER": "vahti-mailer", "SMTP_PASSWORD": "smtp-pass-77e1b0"}
    (key,) = raise_one(vahti, [seen(PAGE_A, "P1")])
    run_ok(vahti, "alerts", "deliver", extra_env=env)
    assert len(hook.requests) == 1 and len(mailbox.messages) == 1
    acked = run_json(vahti, "alerts", "ack", key, "--comment", "looking", "--by", "anna")
    assert acked["updates_queued"] == 2  # hook and siem; mail takes no updates by default
    fp = run_json(vahti, "alerts", "false-positive", key, "--by", "anna")
    assert fp["updates_queued"] == 2
    # the identical command again: nothing new queued, nothing sent twice
    assert run_json(vahti, "alerts", "false-positive", key, "--by", "anna")[
        "updates_queued"] == 0
    report = run_json(vahti, "alerts", "deliver", extra_env=env)
    assert report["sent"] == 4 and report["dead"] == 0
    assert run_json(vahti, "alerts", "deliver", extra_env=env)["sent"] == 0
    assert len(mailbox.messages) == 1

    history = alert_doc(vahti, key)["history"]
    expected = [
        {"type": "alert_update", "alert_key": key, "kind": "sighting", "state": "acknowledged",
         "previous_state": "new", "changed": _iso(history[0]["changed"]), "by": "anna",
         "comment": "looking"},
        {"type": "alert_update", "alert_key": key, "kind": "sighting",
         "state": "false_positive", "previous_state": "acknowledged",
         "changed": _iso(history[1]["changed"]), "by": "anna"},
    ]
    updates = hook.requests[1:]
    assert [json.loads(r["body"]) for r in updates] == expected  # posted as is
    for number, req in enumerate(updates, 1):
        headers = {k.lower(): v for k, v in req["headers"].items()}
        assert verify(HOOK_SECRET, req["body"], headers["x-vahti-signature"])
        assert headers["x-vahti-idempotency-key"] == f"{key}:update{number}:hook"
    lines = [json.loads(line) for line in siem.read_text().splitlines()]
    assert [{k: v for k, v in line.items() if k != "idempotency_key"}
            for line in lines[1:]] == expected
    assert lines[2]["idempotency_key"] == f"{key}:update2:siem"
    listed = run_json(vahti, "alerts", "list")[0]  # the alert's own deliveries only
    assert set(listed["deliveries"]) == {"hook", "siem", "mail"}
    assert listed["deliveries"]["hook"]["mode"] == "immediate"


def _iso(value) -> str:
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.isoformat().replace("+00:00", "Z")
    return value


def test_updates_can_be_switched_on_for_email_and_off_elsewhere(vahti, smtp_server,
                                                                 tmp_path):
    port, cert, mailbox = smtp_server
    siem = tmp_path / "siem.jsonl"
    write_config(vahti, f'[channels.siem]\ntype = "stdout"\npath = "{siem}"\n'
                        'updates = false\n'
                        + mail_channel(port, cert, 'password_env = "SMTP_PASSWORD"')
                        + "updates = true\n")
    env = {"SMTP_USER": "vahti-mailer", "SMTP_PASSWORD": "smtp-pass-77e1b0"}
    (key,) = raise_one(vahti, [seen(PAGE_A, "P1")])
    assert run_json(vahti, "alerts", "resolve", key, "--by", "anna",
                    "--comment", "done")["updates_queued"] == 1
    run_ok(vahti, "alerts", "deliver", extra_env=env)
    assert len(siem.read_text().splitlines()) == 1  # the alert only
    assert len(mailbox.messages) == 2
    text = mailbox.messages[1]["data"].decode()
    assert f"vahti alert {key}: resolved (was new)" in text and "done" in text
    assert PAGE_A not in text  # e-mail carries no page URL


# --- false positives remembered -------------------------------------------------------------


def test_a_false_positive_is_not_alerted_again_on_the_same_content(vahti):
    write_config(vahti, "")
    (key,) = raise_one(vahti, [seen(PAGE_A, "P1"), seen(PAGE_A, "P2", start=30)])
    fp = run_json(vahti, "alerts", "false-positive", key, "--ref", "P1", "--by", "anna")
    assert fp["false_positives_new"] == 1 and fp["refs"] == ["P1"]
    (record,) = vahti.stored(schema.FALSE_POSITIVES)
    assert (record["content_id"], record["ref"], record["alert_key"]) == (CONTENT_1, "P1", key)

    # the same content copied to another page: P1 is a known false positive there, P2 not
    again = raise_one(vahti, [seen(PAGE_B, "P1"), seen(PAGE_B, "P2", start=30)])
    assert [alert_doc(vahti, k)["refs"] for k in again] == [["P2"]]
    # new content (another page, or the page changed): alerts as before
    changed = raise_one(vahti, [seen(PAGE_C, "P1", CONTENT_2)])
    assert [alert_doc(vahti, k)["refs"] for k in changed] == [["P1"]]
    # the page's own sightings gone (retention), then read again: still suppressed
    with vahti.storage() as db:
        db.db[schema.SIGHTINGS].delete_many({"page_url": PAGE_A})
    assert raise_one(vahti, [seen(PAGE_A, "P1")]) == []
    suppressed = vahti.stored(schema.SIGHTINGS, {"fp_suppressed": {"$exists": True}})
    assert {(s["page_url"], s["ref"]) for s in suppressed} == {(PAGE_B, "P1"), (PAGE_A, "P1")}
    assert all(s["alerted"] for s in suppressed)
    with vahti.storage() as db:
        week_ago = datetime.now(UTC) - timedelta(days=7)
        assert false_positives.suppressed_between(db, week_ago, datetime.now(UTC)) == 2

    # reopened: no longer a false positive, the content alerts P1 again
    reopened = run_json(vahti, "alerts", "ack", key, "--comment", "real after all")
    assert reopened["false_positives_forgotten"] == 1
    assert vahti.stored(schema.FALSE_POSITIVES) == []
    assert [alert_doc(vahti, k)["refs"] for k in raise_one(
        vahti, [seen("http://third.onion/x", "P1")])] == [["P1"]]


def test_ref_option_checks_the_alert_names_the_ref(vahti):
    write_config(vahti, "")
    (key,) = raise_one(vahti, [seen(PAGE_A, "P1")])
    result = vahti.run("alerts", "false-positive", key, "--ref", "P9")
    assert result.returncode == 2 and "not in this alert" in result.stderr
    result = vahti.run("alerts", "ack", key, "--ref", "P1")
    assert result.returncode == 2  # no such option for ack
    assert alert_doc(vahti, key)["state"] == "new"


def test_forget_removes_the_false_positive_records_and_dump_load_carries_them(vahti,
                                                                              tmp_path):
    enroll(vahti, tmp_path, [PERSON])
    write_config(vahti, "")
    (key,) = raise_one(vahti, [seen(PAGE_A, PERSON.ref), seen(PAGE_A, "P2", start=30)])
    run_ok(vahti, "alerts", "false-positive", key, "--by", "anna")
    records = vahti.stored(schema.FALSE_POSITIVES)
    assert {r["ref"] for r in records} == {PERSON.ref, "P2"}
    key_id = vahti.stored(schema.META)[0]["key_id"]
    assert {r["key_id"] for r in records} == {key_id}

    dump = tmp_path / "dump"
    run_ok(vahti, "db", "dump", "--out", str(dump))
    assert len((dump / f"{schema.FALSE_POSITIVES}.jsonl").read_text().splitlines()) == 2
    other = VahtiRunner(tmp_path / "other", base_env(tmp_path / "other"))
    other.env.update({"VAHTI_MONGO_URI": vahti.env["VAHTI_MONGO_URI"],
                      "VAHTI_MONGO_DB": vahti.env["VAHTI_MONGO_DB"] + "_b",
                      "VAHTI_KEY_FILE": str(vahti.home / "key")})
    run_ok(other, "db", "load", "--from", str(dump))
    assert sorted(r["ref"] for r in other.stored(schema.FALSE_POSITIVES)) == sorted(
        r["ref"] for r in records)

    forgot = run_json(vahti, "forget", "--ref", PERSON.ref, "--yes")
    assert forgot["false_positives"] == 1
    assert [r["ref"] for r in vahti.stored(schema.FALSE_POSITIVES)] == ["P2"]


def test_false_positive_records_under_a_retired_key_stay_and_keep_no_key_alive(storage):
    """Key rotation: content ids cannot be re-keyed, so the records stay under the old
    key id (kept, no retention), listed with what is left under it, suppress what is
    named under that key, and do not keep the retired key in use."""
    now = datetime.now(UTC)
    alert = {"alert_key": "s-old", "kind": "sighting", "page_content_id": CONTENT_1,
             "key_id": "oldkey", "refs": ["P1"]}
    assert false_positives.remember(storage, alert, ["P1"], "anna", now) == 1
    assert false_positives.remember(storage, alert, ["P1"], "anna", now) == 0
    old = {"ref": "P1", "page_content_id": CONTENT_1, "key_id": "oldkey"}
    new = {"ref": "P1", "page_content_id": "d3" * 16, "key_id": "newkey"}
    pairs = false_positives.suppressed_pairs(storage, [old, new])
    assert false_positives.is_suppressed(old, pairs)
    assert not false_positives.is_suppressed(new, pairs)
    assert schema.FALSE_POSITIVES in keyids.KEYED
    assert schema.FALSE_POSITIVES not in keyids.BLOCKING
    assert not keyids.in_use(storage, "oldkey")
    from vahti.storage.retention import RetentionSettings
    left = {r.collection: r for r in keyids.remaining(storage, "oldkey", RetentionSettings())}
    assert left[schema.FALSE_POSITIVES].documents == 1
    assert left[schema.FALSE_POSITIVES].until is None


def test_the_raiser_counts_nothing_suppressed_without_records(storage):
    record_sightings(storage, [seen(PAGE_A, "P1")])
    raised = raise_sighting_alerts(storage, {})
    assert len(raised) == 1 and raised[0]["state"] == "new"
    assert storage.db[schema.SIGHTINGS].count_documents({"fp_suppressed": {"$exists": True}}) == 0


# --- the weekly report --------------------------------------------------------------------

MONDAY = datetime(2025, 3, 3, tzinfo=UTC)  # 2025-W10


def test_weekly_report_shows_open_handled_times_and_false_positives_apart(vahti, tmp_path):
    import jsonschema

    from vahti.reports.render_json import load_schema
    from vahti.scheduler.alerting import raise_health_alert
    from vahti.scheduler.triage import triage

    # a past week: kept (sightings of 2025 are past the default retention)
    write_config(vahti, "[retention]\nsightings_days = 0\npages_days = 0\n")
    hour = timedelta(hours=1)
    with vahti.storage() as db:
        def raised(sightings, at):
            record_sightings(db, [Sighting(**{**s.__dict__, "seen_at": at}) for s in sightings])
            return raise_sighting_alerts(db, {}, now=at)

        def change(alert, state, at, comment=""):
            fresh = db.db[schema.ALERTS].find_one({"alert_key": alert["alert_key"]}, {"_id": 0})
            triage(db, {}, fresh, state, "anna", comment, now=at)

        (older,) = raised([seen("http://old.onion/1", "P9")], MONDAY - timedelta(days=12))
        (a1,) = raised([seen(PAGE_A, "P1"), seen(PAGE_A, "P2", start=30)], MONDAY + 10 * hour)
        change(a1, "acknowledged", MONDAY + 12 * hour)  # 2 h to acknowledge
        change(a1, "resolved", MONDAY + 34 * hour)  # 24 h to resolve
        (a2,) = raised([seen(PAGE_C, "P3", CONTENT_2)], MONDAY + 34 * hour)
        change(a2, "false_positive", MONDAY + 35 * hour, "test data")  # 1 h
        raise_health_alert(db, {}, source="forum-a", problem="failing", since=None,
                           details={}, now=MONDAY + 50 * hour)
        # the same content again on a copy, Thursday: not alerted, counted
        assert raised([seen(PAGE_B, "P3", CONTENT_2)], MONDAY + 80 * hour) == []
        assert older["state"] == "new"

    out = tmp_path / "weekly.json"
    result = run_ok(vahti, "report", "weekly", "--week", "2025-W10", "--format", "json",
                    "--out", str(out))
    data = json.loads(out.read_text())
    jsonschema.Draft202012Validator(load_schema()).validate(data)
    assert data["schema_version"] == 2
    assert data["triage"] == {
        "states": {"new": 1, "acknowledged": 0, "false_positive": 1, "resolved": 1},
        "open": 1, "handled": 2, "open_older": 1, "acknowledged": 2,
        "median_ack_s": 5400.0, "median_resolve_s": 86400.0,
        "false_positives_marked": 1, "suppressed_repeats": 1}
    assert sorted(i["state"] for i in data["alerts"]["items"]) == [
        "false_positive", "new", "resolved"]

    outputs = [("report json", result.stdout)]
    for fmt_name in ("md", "html"):
        path = tmp_path / f"weekly.{fmt_name}"
        outputs.append((fmt_name, run_ok(vahti, "report", "weekly", "--week", "2025-W10",
                                         "--format", fmt_name, "--out", str(path)).stdout))
        text = path.read_text()
        assert "Triage" in text
        assert "1 open, 2 handled (1 new, 1 false positive, 1 resolved)" in text
        assert "1 alert from earlier weeks still open" in text
        assert "Median time to acknowledge: 1.5 h (2 acknowledged)" in text
        assert "median time to resolve: 24.0 h" in text
        assert "1 alert marked false positive this week; 1 repeat not alerted" in text
        assert "test data" not in text  # comments stay in vahti, not in the report
    # an analyst's slip the same week: refused, and nowhere in what vahti wrote
    slip = vahti.run("alerts", "ack", a1["alert_key"], "--comment", f"soitto {PERSON.hetu}")
    assert slip.returncode == 2
    outputs.append(("slip", slip.stdout + slip.stderr))
    written = everything_written(vahti, tmp_path / "dump", outputs)
    assert_no_plaintext(written, [PERSON.hetu])


@pytest.mark.slow  # a real enrolment, hunts and a key rotation
def test_key_rotation_keeps_false_positives_under_the_old_key_id(vahti, tmp_path):
    """What a rotation does to false positives (storage/false_positives.py): the records
    stay under the old key id, listed with what is left there, kept (no retention); a
    copy of the content read under the old key is suppressed, the same content read under
    the new key has a new content id and alerts once more."""
    enroll(vahti, tmp_path, [PERSON])
    register = tmp_path / "register-again.csv"
    from vahti.demo.synthetic import register_csv
    register.write_text(register_csv([PERSON]), encoding="utf-8")
    old = vahti.stored(schema.META)[0]["key_id"]
    leak = f"asiakas {PERSON.hetu}\n"
    for name in ("first", "copy-old", "copy-new"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "leak.txt").write_text(leak, encoding="utf-8")
    assert vahti.run("hunt", str(tmp_path / "first")).returncode == 1
    (key,) = run_json(vahti, "alerts", "raise")["alert_keys"]
    run_ok(vahti, "alerts", "false-positive", key, "--by", "anna")
    (record,) = vahti.stored(schema.FALSE_POSITIVES)
    assert record["key_id"] == old and record["ref"] == PERSON.ref

    assert vahti.run("hunt", str(tmp_path / "copy-old")).returncode == 1
    assert run_json(vahti, "alerts", "raise")["alert_keys"] == []  # same content: suppressed

    rotated = run_json(vahti, "key", "rotate", "--register", str(register))
    left = {r["collection"]: r for r in rotated["left_under_old_key"]}
    assert left[schema.FALSE_POSITIVES]["documents"] == 1
    assert left[schema.FALSE_POSITIVES]["until"] is None  # kept, like alerts
    assert vahti.stored(schema.FALSE_POSITIVES)[0]["key_id"] == old
    assert vahti.run("hunt", str(tmp_path / "copy-new")).returncode == 1
    again = run_json(vahti, "alerts", "raise")["alert_keys"]
    assert [alert_doc(vahti, k)["refs"] for k in again] == [[PERSON.ref]]
