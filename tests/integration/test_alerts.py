"""Alerts end to end: raising from sightings, the outbox, and real channels on loopback
(an http.server webhook, an aiosmtpd SMTP server with STARTTLS, stdout / a file)."""

from __future__ import annotations

import email
import email.policy
import json
import stat
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.privacy import assert_no_plaintext, everything_written
from tests.support.receivers import (
    HOOK_SECRET,
    SMTP_PASSWORD,
    SMTP_USER,
    free_port,
    mail_channel,
    secret_file,
)
from vahti.demo.synthetic import make_people
from vahti.scheduler.alerting import RAISE_LEASE, raise_health_alert, raise_sighting_alerts
from vahti.scheduler.channels.config import parse_channels
from vahti.scheduler.channels.webhook import verify
from vahti.scheduler.delivery import AlertSettings, deliver_due, period_of
from vahti.storage import leases, outbox, schema
from vahti.storage.outbox import RetryPolicy
from vahti.storage.sightings import Sighting, record_sightings

pytestmark = pytest.mark.integration

PAGE_A = "http://pastesiteexample.onion/raw/aaa111"
PAGE_B = "http://pastesiteexample.onion/raw/bbb222"
T0 = datetime(2025, 3, 4, 10, 17, 5, tzinfo=UTC)


def seen(page: str, ref: str, id_type: str = "hetu", start: int = 0, score: float = 1.0,
         source: str = "pastes", at: datetime | None = None) -> Sighting:
    kind = "fragment" if id_type == "fragment" else "identifier"
    return Sighting(page_url=page, source=source, ref=ref, id_type=id_type, kind=kind,
                    start=start, end=start + 11, score=score, page_content_id="ab" * 16,
                    seen_at=at)


# --- loopback receivers -----------------------------------------------------------------


# --- helpers ------------------------------------------------------------------------------




def write_config(vahti, text: str) -> None:
    vahti.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    (vahti.home / "config.toml").write_text(text)


def hook_table(name: str, url: str, extra: str = "") -> str:
    return (f'[channels.{name}]\ntype = "webhook"\nurl = "{url}"\n'
            f'secret_env = "HOOK_SECRET"\ntimeout_s = 5.0\n{extra}\n')


def run_ok(vahti, *args, **kw):
    result = vahti.run(*args, **kw)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def sightings_of(storage, **query) -> list[dict]:
    return list(storage.db[schema.SIGHTINGS].find(query, {"_id": 0}))


# --- raising ------------------------------------------------------------------------------


def test_one_alert_per_page_for_new_persons_only(storage):
    chans = parse_channels({"siem": {"type": "stdout", "path": "/dev/null"}})
    record_sightings(storage, [
        seen(PAGE_A, "P1", "hetu", 10), seen(PAGE_A, "P1", "email", 50),
        seen(PAGE_A, "P2", "fragment", 400, score=0.6), seen(PAGE_A, "P2", "fragment", 900,
                                                              score=0.9),
        seen(PAGE_A, "CANARY-pastes-1", "hetu", 700), seen(PAGE_B, "P3", "phone", 5),
    ])
    raised = raise_sighting_alerts(storage, chans)
    assert [a["url"] for a in raised] == [PAGE_A, PAGE_B]
    a, b = raised
    assert a["refs"] == ["P1", "P2"] and a["persons"] == 2
    assert a["counts"] == {"email": 1, "hetu": 1}
    assert a["fragment_scores"] == [{"ref": "P2", "score": 0.9}]
    assert b["refs"] == ["P3"] and b["counts"] == {"phone": 1} and b["fragment_scores"] == []
    assert storage.db[schema.ALERTS].count_documents({}) == 2
    assert storage.db[schema.OUTBOX].count_documents({}) == 2
    # canaries are never in person alerts and are left for the canary check
    assert all(not d["alerted"] for d in sightings_of(storage, ref="CANARY-pastes-1"))
    assert all(d["alerted"] for d in sightings_of(storage, ref={"$ne": "CANARY-pastes-1"}))

    assert raise_sighting_alerts(storage, chans) == []  # nothing new: nothing raised
    assert storage.db[schema.ALERTS].count_documents({}) == 2
    assert storage.db[schema.OUTBOX].count_documents({}) == 2

    # P1 again (another identifier) and a new person P4 on page A: only P4 is alerted
    record_sightings(storage, [seen(PAGE_A, "P1", "phone", 80), seen(PAGE_A, "P4", "hetu", 300)])
    third = raise_sighting_alerts(storage, chans)
    assert len(third) == 1 and third[0]["refs"] == ["P4"] and third[0]["url"] == PAGE_A
    assert third[0]["counts"] == {"hetu": 1}
    # only P1 again: no alert, but the sighting is settled
    record_sightings(storage, [seen(PAGE_A, "P1", "hetu", 1234)])
    assert raise_sighting_alerts(storage, chans) == []
    assert sightings_of(storage, alerted=False, ref="P1") == []
    # P1 on another page is news there
    record_sightings(storage, [seen(PAGE_B, "P1", "email", 77)])
    fourth = raise_sighting_alerts(storage, chans)
    assert [(x["url"], x["refs"]) for x in fourth] == [(PAGE_B, ["P1"])]
    allowed = {"alert_key", "kind", "created", "source", "url", "page_content_id", "counts",
               "fragment_scores", "persons", "refs", "first_seen",
               "key_id",  # the key its page content id is under (storage/keyids.py)
               "state", "history"}  # triage (storage/alert_states.py): "new", []
    for doc in storage.db[schema.ALERTS].find({}, {"_id": 0}):
        assert set(doc) == allowed


def test_a_crash_mid_raise_reraises_the_same_alert(storage):
    chans = parse_channels({"siem": {"type": "stdout", "path": "/dev/null"},
                            "late": {"type": "stdout", "path": "/dev/null", "mode": "digest"}})
    record_sightings(storage, [seen(PAGE_A, "P1"), seen(PAGE_A, "P2", "email", 30)])
    first = raise_sighting_alerts(storage, chans)
    rows = {r["delivery_key"]: r for r in storage.db[schema.OUTBOX].find({}, {"_id": 0})}
    assert len(first) == 1 and len(rows) == 2
    # crash after the outbox rows, before the sightings were marked
    storage.db[schema.SIGHTINGS].update_many({}, {"$set": {"alerted": False}})
    again = raise_sighting_alerts(storage, chans)
    assert [a["alert_key"] for a in again] == [first[0]["alert_key"]]
    assert again[0]["created"] == first[0]["created"]
    assert storage.db[schema.ALERTS].count_documents({}) == 1
    assert {r["delivery_key"]: r for r in storage.db[schema.OUTBOX].find({}, {"_id": 0})} == rows
    # crash after the alert, before the outbox rows
    storage.db[schema.OUTBOX].delete_many({})
    storage.db[schema.SIGHTINGS].update_many({}, {"$set": {"alerted": False}})
    third = raise_sighting_alerts(storage, chans)
    assert [a["alert_key"] for a in third] == [first[0]["alert_key"]]
    rows_again = {r["delivery_key"]: r for r in storage.db[schema.OUTBOX].find({}, {"_id": 0})}
    assert set(rows_again) == set(rows)
    digest_row = next(r for r in rows_again.values() if r["mode"] == "digest")
    assert digest_row["digest_key"] == next(
        r for r in rows.values() if r["mode"] == "digest")["digest_key"]
    assert sightings_of(storage, alerted=False) == []


def test_health_alerts_once_per_problem(storage):
    chans = parse_channels({"all": {"type": "stdout", "path": "/dev/null"},
                            "people": {"type": "stdout", "path": "/dev/null",
                                       "kinds": ["sighting"]}})
    since = T0 - timedelta(hours=30)
    args = {"source": "pastes", "problem": "no new pages", "since": since,
            "details": {"expected_within": "1d", "last_new": since}}
    assert raise_health_alert(storage, chans, **args) is True
    assert raise_health_alert(storage, chans, **args) is False
    read_back = {**args, "since": since + timedelta(microseconds=1234)}  # ms precision
    assert raise_health_alert(storage, chans, **read_back) is False
    assert raise_health_alert(storage, chans, **{**args, "problem": "tor unavailable"}) is True
    day = {"source": "board", "problem": "login failed", "since": None, "details": {}}
    assert raise_health_alert(storage, chans, **day, now=T0) is True
    assert raise_health_alert(storage, chans, **day, now=T0 + timedelta(hours=5)) is False
    assert raise_health_alert(storage, chans, **day, now=T0 + timedelta(days=1)) is True
    alerts = list(storage.db[schema.ALERTS].find({}, {"_id": 0}))
    assert len(alerts) == 4 and {a["kind"] for a in alerts} == {"health"}
    rows = list(storage.db[schema.OUTBOX].find({}, {"_id": 0}))
    assert len(rows) == 4 and {r["channel"] for r in rows} == {"all"}  # kinds respected
    first = next(a for a in alerts if a["problem"] == "no new pages")
    assert first["details"]["last_new"] == since.isoformat().replace("+00:00", "Z")


# --- the outbox ---------------------------------------------------------------------------


def test_a_claimed_row_is_leased_to_one_owner(storage):
    chans = parse_channels({"siem": {"type": "stdout", "path": "/dev/null"}})
    raise_health_alert(storage, chans, source="s", problem="p", since=T0, details={}, now=T0)
    row = outbox.claim_due(storage, T0, 30, "daemon-1")
    assert row is not None and row["state"] == "sending" and row["attempts"] == 1
    assert outbox.claim_due(storage, T0 + timedelta(seconds=10), 30, "daemon-2") is None
    taken = outbox.claim_due(storage, T0 + timedelta(seconds=31), 30, "daemon-2")
    assert taken is not None and taken["lease_owner"] == "daemon-2" and taken["attempts"] == 2
    assert not outbox.mark_sent(storage, row["delivery_key"], "daemon-1", T0)  # lease lost
    assert outbox.mark_sent(storage, row["delivery_key"], "daemon-2", T0)
    assert outbox.get_row(storage, row["delivery_key"])["state"] == "sent"


def test_webhook_gets_one_signed_request_per_alert(vahti, webhook):
    hook = webhook()
    write_config(vahti, hook_table("hook", hook.url))
    env = {"HOOK_SECRET": HOOK_SECRET}
    with vahti.storage() as db:
        record_sightings(db, [seen(PAGE_A, "P1"), seen(PAGE_A, "P2", "email", 20),
                              seen(PAGE_B, "P3", "phone", 3)])
    raised = json.loads(run_ok(vahti, "alerts", "raise", "--json").stdout)
    assert raised["alerts"] == 2 and raised["persons"] == 3
    report = json.loads(run_ok(vahti, "alerts", "deliver", "--json", extra_env=env).stdout)
    assert report["sent"] == 2 and report["retrying"] == 0 and report["dead"] == 0
    assert len(hook.requests) == 2
    keys = set()
    for req in hook.requests:
        headers = {k.lower(): v for k, v in req["headers"].items()}
        assert verify(HOOK_SECRET, req["body"], headers["x-vahti-signature"])
        payload = json.loads(req["body"])
        assert headers["x-vahti-idempotency-key"] == payload["alert_key"] + ":hook"
        assert payload["kind"] == "sighting" and payload["type"] == "alert"
        keys.add(payload["alert_key"])
    assert keys == set(raised["alert_keys"])
    by_url = {p["url"]: p for p in hook.payloads()}
    assert by_url[PAGE_A]["refs"] == ["P1", "P2"] and by_url[PAGE_B]["refs"] == ["P3"]

    again = json.loads(run_ok(vahti, "alerts", "deliver", "--json", extra_env=env).stdout)
    assert again["sent"] == 0 and len(hook.requests) == 2  # delivered once
    listed = json.loads(run_ok(vahti, "alerts", "list", "--json").stdout)
    assert len(listed) == 2
    assert all(item["deliveries"]["hook"]["state"] == "sent" for item in listed)
    assert json.loads(run_ok(vahti, "alerts", "list", "--json", "--state", "pending").stdout) == []
    table = run_ok(vahti, "alerts", "list")
    assert "hook sent" in table.stdout


def test_smtp_with_starttls_gets_one_email(vahti, smtp_server, tmp_path):
    port, cert, mailbox = smtp_server
    password_file = secret_file(tmp_path / "smtp.pw", SMTP_PASSWORD)
    write_config(vahti, mail_channel(port, cert, f'password_file = "{password_file}"',
                                     to=("soc@example.org", "dpo@example.org"),
                                     extra="timeout_s = 10.0\n"))
    env = {"SMTP_USER": SMTP_USER}
    with vahti.storage() as db:
        record_sightings(db, [seen(PAGE_A, "P1"), seen(PAGE_A, "P7", "fragment", 90,
                                                        score=0.7)])
    run_ok(vahti, "alerts", "raise")
    report = json.loads(run_ok(vahti, "alerts", "deliver", "--json", extra_env=env).stdout)
    assert report["sent"] == 1, report
    assert len(mailbox.messages) == 1 and mailbox.logins
    got = mailbox.messages[0]
    assert got["tls"] and got["to"] == ["soc@example.org", "dpo@example.org"]
    mail = email.message_from_bytes(got["data"], policy=email.policy.default)
    key = json.loads(run_ok(vahti, "alerts", "list", "--json").stdout)[0]["alert_key"]
    assert mail["X-Vahti-Idempotency-Key"] == key + ":mail"
    assert mail["Message-ID"].startswith("<vahti.") and mail["Message-ID"].endswith(
        "@example.org>")
    assert "2 persons" in mail["Subject"]
    body = mail.get_content()
    assert "refs: P1, P7" in body and "identifier hits: hetu 1" in body
    assert PAGE_A not in body and PAGE_A not in mail["Subject"]
    run_ok(vahti, "alerts", "deliver", extra_env=env)
    assert len(mailbox.messages) == 1

    test = run_ok(vahti, "alerts", "test", "mail", extra_env=env)
    assert "test alert sent to channel mail" in test.stdout
    assert len(mailbox.messages) == 2
    # a wrong password: not delivered, one clear line, no secret in it
    bad = tmp_path / "bad.pw"
    bad.write_text("wrong\n")
    bad.chmod(0o600)
    text = (vahti.home / "config.toml").read_text().replace(str(password_file), str(bad))
    write_config(vahti, text)
    failed = vahti.run("alerts", "test", "mail", extra_env=env)
    assert failed.returncode == 2 and "SMTP login refused" in failed.stderr
    assert "wrong" not in failed.stderr and SMTP_USER not in failed.stderr


def test_stdout_channel_writes_json_lines(vahti, tmp_path):
    siem = tmp_path / "siem" / "alerts.jsonl"
    siem.parent.mkdir()
    write_config(vahti, f'[channels.console]\ntype = "stdout"\n\n'
                        f'[channels.siem]\ntype = "stdout"\npath = "{siem}"\n')
    with vahti.storage() as db:
        record_sightings(db, [seen(PAGE_A, "P1"), seen(PAGE_B, "P2", "email", 1)])
        raise_health_alert(db, parse_channels({"siem": {"type": "stdout", "path": str(siem)}}),
                           source="pastes", problem="no new pages", since=T0, details={"n": 0})
    run_ok(vahti, "alerts", "raise")
    out = run_ok(vahti, "alerts", "deliver").stdout
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    assert sorted(x["url"] for x in lines) == [PAGE_A, PAGE_B]
    assert all(x["idempotency_key"] == x["alert_key"] + ":console" for x in lines)
    assert "5 sent" in out  # two alerts to each channel, one health alert to the file
    written = [json.loads(x) for x in siem.read_text().splitlines()]
    assert [x["kind"] for x in written].count("sighting") == 2
    assert [x["kind"] for x in written].count("health") == 1
    assert stat.S_IMODE(siem.stat().st_mode) == 0o600


def test_digest_sends_one_summary_per_period(storage, webhook):
    hook = webhook()
    chans = parse_channels({"daily": {"type": "webhook", "url": hook.url,
                                      "secret_env": "HOOK_SECRET", "mode": "digest",
                                      "digest": "hourly"}})
    settings = AlertSettings(tuple(chans.values()), RetryPolicy(3, 1.0, 10.0), 60.0)
    env = {"HOOK_SECRET": HOOK_SECRET}
    record_sightings(storage, [seen(PAGE_A, "P1", at=T0), seen(PAGE_B, "P2", at=T0)])
    raise_sighting_alerts(storage, chans, now=T0)
    record_sightings(storage, [seen(PAGE_A + "x", "P3", at=T0)])
    raise_sighting_alerts(storage, chans, now=T0 + timedelta(minutes=20))
    raise_health_alert(storage, chans, source="pastes", problem="no new pages", since=T0,
                       details={}, now=T0 + timedelta(minutes=30))
    assert deliver_due(storage, settings, T0 + timedelta(minutes=40), environ=env).sent == 0
    assert hook.requests == []  # the hour is not over
    _, end = period_of(T0, "hourly")
    report = deliver_due(storage, settings, end + timedelta(seconds=1), environ=env)
    assert report.sent == 1 and report.summaries == 1
    assert len(hook.requests) == 1
    payload = hook.payloads()[0]
    assert payload["type"] == "digest" and payload["alerts_count"] == 4
    assert payload["counts"] == {"sighting": 3, "health": 1} and payload["persons"] == 3
    headers = {k.lower(): v for k, v in hook.requests[0]["headers"].items()}
    assert headers["x-vahti-idempotency-key"] == "digest:daily:hourly:2025-03-04T10:00Z"
    assert verify(HOOK_SECRET, hook.requests[0]["body"], headers["x-vahti-signature"])
    assert deliver_due(storage, settings, end + timedelta(minutes=5), environ=env).sent == 0
    assert len(hook.requests) == 1
    members = list(storage.db[schema.OUTBOX].find({"mode": "digest"}, {"_id": 0}))
    assert len(members) == 4 and {m["state"] for m in members} == {"sent"}
    # an alert of the next hour goes into the next summary
    record_sightings(storage, [seen(PAGE_B + "y", "P9", at=end)])
    raise_sighting_alerts(storage, chans, now=end + timedelta(minutes=10))
    report = deliver_due(storage, settings, end + timedelta(hours=1, seconds=1), environ=env)
    assert report.summaries == 1 and len(hook.requests) == 2
    assert hook.payloads()[1]["alerts_count"] == 1


def deliver_until(vahti, env, state: str, rounds: int = 30) -> None:
    """`vahti alerts deliver` until the only delivery is in `state`."""
    for _ in range(rounds):
        run_ok(vahti, "alerts", "deliver", "--json", extra_env=env)
        with vahti.storage() as db:
            if [r["state"] for r in db.db[schema.OUTBOX].find({}, {"_id": 0})] == [state]:
                return
        time.sleep(0.1)
    raise AssertionError(f"delivery did not end {state}")


def test_retries_with_backoff_then_one_success(vahti, webhook):
    hook = webhook(statuses=[500, 500, 200])
    write_config(vahti, hook_table("hook", hook.url))
    env = {"HOOK_SECRET": HOOK_SECRET, "VAHTI_ALERTS_BACKOFF_BASE_S": "0.5",
           "VAHTI_ALERTS_MAX_ATTEMPTS": "5"}
    with vahti.storage() as db:
        record_sightings(db, [seen(PAGE_A, "P1")])
    run_ok(vahti, "alerts", "raise")
    first = json.loads(run_ok(vahti, "alerts", "deliver", "--json", extra_env=env).stdout)
    assert first["retrying"] == 1 and first["errors"] == ["channel hook: HTTP 500"]
    deliver_until(vahti, env, "sent")
    assert [r["status"] for r in hook.requests] == [500, 500, 200]
    gaps = [b["at"] - a["at"] for a, b in zip(hook.requests, hook.requests[1:], strict=False)]
    assert gaps[0] >= 0.5 and gaps[1] >= 1.0  # base * 2**failures
    assert len({r["headers"]["X-Vahti-Idempotency-Key"] for r in hook.requests}) == 1
    item = json.loads(run_ok(vahti, "alerts", "list", "--json").stdout)[0]
    assert item["deliveries"]["hook"]["state"] == "sent"
    assert item["deliveries"]["hook"]["attempts"] == 3
    run_ok(vahti, "alerts", "deliver", extra_env=env)
    assert len(hook.requests) == 3


def test_a_failing_webhook_ends_dead(vahti, webhook):
    hook = webhook(default=503)
    write_config(vahti, hook_table("hook", hook.url))
    env = {"HOOK_SECRET": HOOK_SECRET, "VAHTI_ALERTS_BACKOFF_BASE_S": "0.1",
           "VAHTI_ALERTS_MAX_ATTEMPTS": "3"}
    with vahti.storage() as db:
        record_sightings(db, [seen(PAGE_A, "P1")])
    run_ok(vahti, "alerts", "raise")
    deliver_until(vahti, env, "dead")
    assert len(hook.requests) == 3
    item = json.loads(run_ok(vahti, "alerts", "list", "--json", "--state", "dead").stdout)[0]
    assert item["deliveries"]["hook"] == {**item["deliveries"]["hook"], "state": "dead",
                                          "attempts": 3, "last_error": "HTTP 503"}
    time.sleep(0.5)
    run_ok(vahti, "alerts", "deliver", extra_env=env)
    assert len(hook.requests) == 3  # dead stays dead


def test_unreachable_and_missing_secret_are_retried(vahti):
    write_config(vahti, hook_table("hook", f"http://127.0.0.1:{free_port()}/x"))
    with vahti.storage() as db:
        record_sightings(db, [seen(PAGE_A, "P1")])
    run_ok(vahti, "alerts", "raise")
    fast = {"VAHTI_ALERTS_BACKOFF_BASE_S": "0"}
    report = json.loads(run_ok(vahti, "alerts", "deliver", "--json", extra_env=fast).stdout)
    assert report["retrying"] == 1
    assert "secret_env: environment variable HOOK_SECRET is not set" in report["errors"][0]
    env = {"HOOK_SECRET": HOOK_SECRET, **fast}
    report = json.loads(run_ok(vahti, "alerts", "deliver", "--json", extra_env=env).stdout)
    assert report["errors"] == ["channel hook: connection failed"]


def test_channels_command_hides_secrets_and_names_problems(vahti, tmp_path):
    write_config(vahti, hook_table("hook", "https://hooks.example/T0K3N/abc")
                 + '[channels.siem]\ntype = "stdout"\nmode = "digest"\ndigest = "hourly"\n')
    missing = vahti.run("alerts", "channels", "--json")
    assert missing.returncode == 1
    rows = json.loads(missing.stdout)
    assert [r["name"] for r in rows] == ["hook", "siem"]
    assert rows[0]["target"] == "https://hooks.example/…" and rows[0]["secret"] == "env HOOK_SECRET"
    assert "HOOK_SECRET is not set" in rows[0]["problems"][0]
    assert rows[1]["mode"] == "digest" and rows[1]["digest"] == "hourly"
    ok = vahti.run("alerts", "channels", extra_env={"HOOK_SECRET": HOOK_SECRET})
    assert ok.returncode == 0 and "T0K3N" not in ok.stdout and HOOK_SECRET not in ok.stdout
    unknown = vahti.run("alerts", "test", "nope")
    assert unknown.returncode == 2 and "no channel nope" in unknown.stderr
    assert "channels: hook, siem" in unknown.stderr
    write_config(vahti, '[channels.hook]\ntype = "webhook"\nurl = "https://h.example/"\n'
                        'secret = "inline-secret"\n')
    bad = vahti.run("alerts", "channels")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "vahti: error: config.toml [channels.hook] secret: secrets never go in config.toml: "
        "name an environment variable (*_env) or a secret file (*_file) instead"]


def test_nothing_plaintext_written_or_sent(vahti, webhook, smtp_server, tmp_path):
    """Sightings of synthetic people: their identifiers and names are nowhere, not in
    the database, the home, the CLI output, nor any payload a channel received."""
    hook = webhook()
    port, cert, mailbox = smtp_server
    siem = tmp_path / "siem.jsonl"
    write_config(vahti, hook_table("hook", hook.url)
                 + mail_channel(port, cert, 'password_env = "SMTP_PASSWORD"') + f"""
[channels.siem]
type = "stdout"
path = "{siem}"

[channels.digest]
type = "stdout"
mode = "digest"
digest = "hourly"
""")
    env = {"HOOK_SECRET": HOOK_SECRET, "SMTP_USER": SMTP_USER, "SMTP_PASSWORD": SMTP_PASSWORD}
    people = make_people(6, seed=61)
    with vahti.storage() as db:
        record_sightings(db, [
            seen(f"http://leakforumexample.onion/t/{i // 2}", p.ref, t, 40 * i + j)
            for i, p in enumerate(people) for j, t in enumerate(("hetu", "email", "phone"))
        ] + [seen(PAGE_A, people[0].ref, "fragment", 5, score=0.8)])
        raise_health_alert(db, parse_channels({"siem": {"type": "stdout", "path": str(siem)}}),
                           source="board", problem="login failed", since=None,
                           details={"status": 403})
    outputs = [run_ok(vahti, "alerts", "raise", "--json"),
               run_ok(vahti, "alerts", "deliver", "--json", extra_env=env)]
    with vahti.storage() as db:  # the digest's hour ends: its summary too
        digest = deliver_due(db, AlertSettings.from_config(_config(vahti, env)),
                             datetime.now(UTC) + timedelta(hours=2), environ=env)
    assert digest.summaries == 1
    outputs += [run_ok(vahti, "alerts", "list", "--json"), run_ok(vahti, "alerts", "list"),
                run_ok(vahti, "alerts", "channels", "--json", extra_env=env)]
    assert len(hook.ok()) == 4 and len(mailbox.messages) == 4
    assert len(siem.read_text().splitlines()) == 5  # 4 sightings + 1 health
    received = [("webhook", r["body"]) for r in hook.requests]
    received += [("smtp", m["data"]) for m in mailbox.messages]
    received += [(f"cli {i}", o.stdout + o.stderr) for i, o in enumerate(outputs)]
    written = everything_written(vahti, tmp_path / "dump", received)
    plaintext = [v for p in people for v in (p.hetu, p.email, p.phone, p.full_name)]
    assert_no_plaintext(written, plaintext)
    assert_no_plaintext(written, [HOOK_SECRET, SMTP_PASSWORD])
    refs = json.loads(outputs[0].stdout)
    assert refs["persons"] == 7  # 6 on forum threads + person 0 again on PAGE_A


def _config(vahti, env):
    from vahti.config import load_config

    return load_config(environ={**vahti.env, **env})


def test_every_alert_key_is_unique_per_page_and_set(storage):
    chans = parse_channels({"siem": {"type": "stdout", "path": "/dev/null"}})
    pages = [f"http://paste.example/raw/{uuid.uuid4().hex}" for _ in range(20)]
    record_sightings(storage, [seen(p, f"P{i % 7}", "hetu", i) for i, p in enumerate(pages)])
    raised = raise_sighting_alerts(storage, chans)
    assert len(raised) == 20 and len({a["alert_key"] for a in raised}) == 20


# --- one raise pass at a time across processes ---------------------------------------------


def test_a_held_raise_lease_makes_a_pass_wait_then_leave_its_sightings(storage):
    chans = parse_channels({"siem": {"type": "stdout", "path": "/dev/null"}})
    record_sightings(storage, [seen(PAGE_A, "P1")])
    other = leases.make_owner()
    with leases.held(storage, RAISE_LEASE, other, 30.0) as ours:
        assert ours
        started = time.monotonic()
        assert raise_sighting_alerts(storage, chans, wait_s=0.6) == []
        assert time.monotonic() - started >= 0.6  # it waited for the holder
        assert storage.db[schema.ALERTS].count_documents({}) == 0
        assert sightings_of(storage, alerted=False) != []  # left for the next pass
        # the lease is not a job: `vahti jobs list` does not see it
        assert leases.job_leases(storage) == {}
    # released: the next pass raises what was left
    raised = raise_sighting_alerts(storage, chans, wait_s=0.0)
    assert [a["refs"] for a in raised] == [["P1"]]
    lease = leases.get(storage, leases.PASS_PREFIX + RAISE_LEASE)
    assert lease["kind"] == "pass" and lease["owner"] is None


def test_a_pass_waits_for_a_running_one_to_finish(storage):
    chans = parse_channels({"siem": {"type": "stdout", "path": "/dev/null"}})
    record_sightings(storage, [seen(PAGE_A, "P1")])
    other = leases.make_owner()
    results: list = []
    with leases.held(storage, RAISE_LEASE, other, 30.0):
        waiter = threading.Thread(
            target=lambda: results.append(raise_sighting_alerts(storage, chans, wait_s=20)))
        waiter.start()
        time.sleep(0.5)
        assert results == []  # still waiting
    waiter.join(20)
    assert [[a["refs"] for a in r] for r in results] == [[["P1"]]]


def test_a_long_pass_keeps_its_lease_and_a_dead_holder_frees_it(storage):
    owner = leases.make_owner()
    with leases.held(storage, "long", owner, 0.6) as ours:
        assert ours
        time.sleep(1.5)  # more than twice the lease: renewed meanwhile
        assert leases.acquire(storage, leases.PASS_PREFIX + "long", "someone", 0.6,
                              kind="pass") is None
    # a holder that stops renewing (died) loses the lease once it expires
    assert leases.acquire(storage, leases.PASS_PREFIX + "dead", "gone:1:x", 0.3, kind="pass")
    time.sleep(0.5)
    with leases.held(storage, "dead", owner, 5.0, wait_s=0) as ours:
        assert ours


def test_two_raisers_at_once_never_alert_one_person_twice_on_a_page(storage):
    """Two daemons' raise passes while a crawl keeps storing sightings: each person is
    in exactly one alert per page (without the pass lease, the passes' reads interleave
    and overlapping alerts appear)."""
    chans = parse_channels({"siem": {"type": "stdout", "path": "/dev/null"}})
    pages = [PAGE_A, PAGE_B]
    writing = threading.Event()
    writing.set()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(60):
                record_sightings(storage, [seen(pages[i % 2], f"P{i}", "hetu", i)])
                time.sleep(0.01)
        finally:
            writing.clear()

    def raiser() -> None:
        try:
            while writing.is_set():
                raise_sighting_alerts(storage, chans)
            raise_sighting_alerts(storage, chans)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=f) for f in (writer, raiser, raiser)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    raise_sighting_alerts(storage, chans)
    for page in pages:
        refs = [r for a in storage.db[schema.ALERTS].find({"url": page}) for r in a["refs"]]
        assert len(refs) == len(set(refs)), f"a person alerted twice on {page}"
        assert len(refs) == 30
