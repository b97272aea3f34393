"""Alerts without a server: keys, payloads, signatures, backoff, channel configuration."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from vahti.config import load_config
from vahti.scheduler.alerting import (
    ALERT_FIELDS,
    build_sighting_alert,
    health_alert_key,
    sighting_alert_key,
)
from vahti.scheduler.channels.config import (
    ChannelConfigError,
    as_channels,
    channel_problems,
    parse_channel,
    parse_channels,
    read_secret,
)
from vahti.scheduler.channels.message import (
    SIGHTING_FIELDS,
    alert_message,
    build_payload,
    digest_message,
)
from vahti.scheduler.channels.smtp import build_email, message_id
from vahti.scheduler.channels.stdout import line
from vahti.scheduler.channels.webhook import signature, verify
from vahti.scheduler.delivery import AlertSettings, digest_key, period_of
from vahti.storage.outbox import RetryPolicy

T0 = datetime(2025, 3, 4, 10, 17, 5, tzinfo=UTC)
URL = "http://pastesiteexample.onion/raw/abc123"


def sighting(ref: str, id_type: str = "hetu", start: int = 0, kind: str = "identifier",
             score: float = 1.0, **extra) -> dict:
    return {"_id": object(), "page_url": URL, "ref": ref, "id_type": id_type, "kind": kind,
            "start": start, "score": score, "source": "pastes", "page_content_id": "ab" * 16,
            "first_seen": T0, "last_seen": T0, **extra}


def test_alert_key_is_deterministic_and_order_free():
    a = [sighting("P1", start=5), sighting("P2", "email", 40), sighting("P1", "phone", 90)]
    key = sighting_alert_key(URL, a)
    assert key == sighting_alert_key(URL, list(reversed(a)))
    assert key.startswith("s-") and len(key) == 42
    assert key != sighting_alert_key(URL + "x", a)
    assert key != sighting_alert_key(URL, a[:2])  # another set of occurrences
    assert key != sighting_alert_key(URL, [*a[:2], sighting("P1", "phone", 91)])
    built = build_sighting_alert(URL, a, T0)
    rebuilt = build_sighting_alert(URL, list(reversed(a)), T0 + timedelta(hours=1))
    assert built["alert_key"] == rebuilt["alert_key"] == key


def test_alert_key_cannot_be_brute_forced_from_what_an_email_shows():
    """An e-mail alert shows the key, refs, types and source but no URL (mail is kept where
    vahti has no say). Were the key an unkeyed hash of guessable inputs only (a forum's
    sequential thread URL, offset 0 of a one-code page), enumerating them would give the
    URL back; the page's keyed content id is in it, so nothing can be enumerated."""
    forum = "http://forum.example.onion/thread/"
    one = [sighting("P1", start=0, page_url=forum + "137", page_content_id="cd" * 16)]
    key = sighting_alert_key(forum + "137", one)
    assert key != sighting_alert_key(
        forum + "137", [{**one[0], "page_content_id": "ef" * 16}])  # the content id counts
    for thread in range(1, 200):  # the attacker's guesses, with the documented recipe
        for start in range(0, 20):
            occurrence = json.dumps([forum + str(thread), "P1", "hetu", start],
                                    separators=(",", ":"))
            guess = "s-" + hashlib.sha256(b"sighting\0" + (forum + str(thread)).encode()
                                          + b"\0" + occurrence.encode() + b"\0"
                                          ).hexdigest()[:40]
            assert guess != key


def test_health_key_buckets():
    k1 = health_alert_key("pastes", "no new pages", "2025-03-04")
    assert k1 == health_alert_key("pastes", "no new pages", "2025-03-04")
    assert k1.startswith("h-")
    assert k1 != health_alert_key("pastes", "no new pages", "2025-03-05")
    assert k1 != health_alert_key("pastes", "tor down", "2025-03-04")
    assert k1 != health_alert_key("board", "no new pages", "2025-03-04")


def test_sighting_alert_holds_only_allowed_fields():
    found = [sighting("P2", "email", 3), sighting("P1", "hetu", 10), sighting("P1", "hetu", 99),
             sighting("P3", "fragment", 200, kind="fragment", score=0.42),
             sighting("P3", "fragment", 900, kind="fragment", score=0.8,
                      last_seen=T0 + timedelta(minutes=5), page_content_id="cd" * 16),
             sighting("P1", "phone", 50, first_seen=T0 - timedelta(days=1))]
    alert = build_sighting_alert(URL, found, T0)
    assert set(alert) == set(ALERT_FIELDS)
    assert alert["kind"] == "sighting" and alert["url"] == URL and alert["source"] == "pastes"
    assert alert["counts"] == {"email": 1, "hetu": 2, "phone": 1}
    assert alert["fragment_scores"] == [{"ref": "P3", "score": 0.8}]
    assert alert["refs"] == ["P1", "P2", "P3"] and alert["persons"] == 3
    assert alert["page_content_id"] == "cd" * 16  # of the latest sighting
    assert alert["first_seen"] == T0 - timedelta(days=1)
    assert alert["created"] == T0


def test_payload_builder_copies_allowed_keys_only():
    alert = build_sighting_alert(URL, [sighting("P1")], T0)
    polluted = {**alert, "_id": "x", "hetu": "010101-123N", "text": "page text",
                "name": "Matti Meikäläinen", "value": "secret"}
    payload = build_payload(polluted)
    assert set(payload) == {"type", *SIGHTING_FIELDS}
    blob = json.dumps(payload)
    for bad in ("010101-123N", "page text", "Meikäläinen", "secret"):
        assert bad not in blob
    assert payload["created"] == "2025-03-04T10:17:05Z"
    health = {"alert_key": "h-1", "kind": "health", "created": T0, "source": "pastes",
              "problem": "no new pages", "since": None, "details": {"hours": 30},
              "text": "nope"}
    assert set(build_payload(health)) == {"type", "alert_key", "kind", "created", "source",
                                          "problem", "since", "details"}
    with pytest.raises(ValueError):
        build_payload({"kind": "other"})


def test_messages_hold_counts_and_refs():
    alert = build_sighting_alert(URL, [sighting("P1"), sighting("P2", "email", 7)], T0)
    msg = alert_message(alert, alert["alert_key"] + ":hook")
    assert msg.idempotency_key.endswith(":hook")
    assert "2 persons" in msg.subject and "P1, P2" in msg.text
    assert URL not in msg.text and URL not in msg.subject  # e-mail: no page URL
    assert msg.payload["url"] == URL  # the webhook and stdout payloads have it
    assert json.loads(msg.body()) == msg.payload
    other = build_sighting_alert(URL + "2", [sighting("P3", page_url=URL + "2")], T0)
    start, end = period_of(T0, "hourly")
    digest = digest_message("ops", "hourly", start, end, [alert, other], "digest:ops:x")
    assert digest.payload["alerts_count"] == 2 and digest.payload["persons"] == 3
    assert [a["alert_key"] for a in digest.payload["alerts"]] == [alert["alert_key"],
                                                                 other["alert_key"]]


def test_hmac_signature():
    body = b'{"a":1}'
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert signature("s3cret", body) == "sha256=" + expected
    assert verify("s3cret", body, "sha256=" + expected)
    assert not verify("s3cret", body + b" ", "sha256=" + expected)
    assert not verify("other", body, "sha256=" + expected)
    assert not verify("s3cret", body, "")


def test_backoff_schedule():
    policy = RetryPolicy(max_attempts=8, backoff_base_s=5.0, backoff_max_s=60.0)
    assert [policy.delay(n) for n in range(6)] == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
    assert policy.delay(10_000) == 60.0
    assert RetryPolicy(backoff_base_s=0.0).delay(3) == 0.0


def test_digest_periods():
    assert period_of(T0, "hourly") == (T0.replace(minute=0, second=0),
                                       T0.replace(minute=0, second=0) + timedelta(hours=1))
    day = T0.replace(hour=0, minute=0, second=0)
    assert period_of(T0, "daily") == (day, day + timedelta(days=1))
    assert digest_key("ops", "daily", day) == "digest:ops:daily:2025-03-04T00:00Z"


def webhook(**extra) -> dict:
    return {"type": "webhook", "url": "https://hooks.example/vahti", "secret_env": "HOOK_SECRET",
            **extra}


def email(**extra) -> dict:
    return {"type": "email", "host": "smtp.example", "from": "vahti@example.org",
            "to": ["soc@example.org"], **extra}


@pytest.mark.parametrize(("table", "key", "words"), [
    ({"type": "pager"}, "type", "must be one of"),
    (webhook(url="ftp://x.example/"), "url", "http:// or https://"),
    (webhook(url="https://u:p@x.example/"), "url", "credentials"),
    (webhook(secret="inline"), "secret", "never go in config.toml"),
    ({**webhook(), "secret_file": "/etc/vahti/hook"}, "secret_env", "exactly one"),
    (webhook(secret_env="", secret_file=""), "secret_env", "exactly one"),
    (webhook(secret_env="1BAD"), "secret_env", "environment variable name"),
    ({"type": "webhook", "url": "https://x.example/", "secret_file": "rel/path"}, "secret_file",
     "absolute"),
    (webhook(timeout_s=0), "timeout_s", "more than 0"),
    (webhook(timeout_s="10"), "timeout_s", "a number"),
    (webhook(mode="sometimes"), "mode", "immediate, digest"),
    (webhook(mode="digest", digest="weekly"), "digest", "hourly, daily"),
    (webhook(kinds=["sighting", "weather"]), "kinds", "non-empty list"),
    (webhook(kinds=[]), "kinds", "non-empty list"),
    (webhook(colour="red"), "colour", "unknown key"),
    (email(host=""), "host", "required"),
    (email(security="tls"), "security", "starttls, ssl, none"),
    (email(to=[]), "to", "at least one"),
    (email(to="soc@example.org"), "to", "list"),
    (email(to=["soc@example.org", "not an address"]), "to", "item 2"),
    (email(password="x"), "password", "never go in config.toml"),
    (email(password_env="SMTP_PASS"), "username_env", "needs username_env"),
    (email(username_env="SMTP_USER"), "password_env", "exactly one"),
    (email(username_env="U", password_env="P", security="none"), "security", "in clear"),
    (email(port=70000), "port", "port number"),
    ({"type": "stdout", "path": "alerts.jsonl"}, "path", "absolute"),
])
def test_channel_config_errors_name_channel_and_key(table, key, words):
    with pytest.raises(ChannelConfigError) as err:
        parse_channel("ops", table)
    message = str(err.value)
    assert message.startswith(f"config.toml [channels.ops] {key}:"), message
    assert words in message
    assert "inline" not in message  # never the value


def test_channel_defaults_and_parsing():
    chans = parse_channels({"hook": webhook(), "mail": email(port=2525, mode="digest"),
                            "siem": {"type": "stdout", "kinds": ["health"]}})
    assert list(chans) == ["hook", "mail", "siem"]
    hook, mail, siem = chans.values()
    assert hook.mode == "immediate" and hook.kinds == ("sighting", "health")
    assert hook.option("timeout_s") == 10.0 and hook.option("url").endswith("/vahti")
    assert mail.mode == "digest" and mail.digest == "daily" and mail.option("port") == 2525
    assert siem.wants("health") and not siem.wants("sighting")
    shown = json.dumps([c.describe() for c in chans.values()], ensure_ascii=False)
    assert "/vahti" not in shown and "https://hooks.example/…" in shown  # path may be a token
    assert "env HOOK_SECRET" in shown
    assert as_channels({"hook": webhook()})[0].name == "hook"
    assert as_channels(chans) == list(chans.values())
    assert as_channels(None) == []
    with pytest.raises(ChannelConfigError, match=r"\[channels\.bad name\]"):
        parse_channels({"bad name": webhook()})


def test_secrets_from_env_or_file(tmp_path):
    ch = parse_channel("hook", webhook())
    assert read_secret(ch, "secret_env", "secret_file", {"HOOK_SECRET": "abc"}) == "abc"
    problems = channel_problems(ch, {})
    assert problems == ["config.toml [channels.hook] secret_env: environment variable "
                        "HOOK_SECRET is not set"]
    path = tmp_path / "hook.secret"
    path.write_text("filesecret\nignored\n")
    path.chmod(0o644)
    by_file = parse_channel("hook", {**webhook(secret_env=""), "secret_file": str(path)})
    with pytest.raises(ChannelConfigError, match="secret_file: secret file .*mode 0644"):
        read_secret(by_file, "secret_env", "secret_file", {})
    path.chmod(0o600)
    assert read_secret(by_file, "secret_env", "secret_file", {}) == "filesecret"
    assert channel_problems(by_file, {}) == []


def test_email_and_stdout_forms():
    mail = parse_channel("mail", email())
    alert = build_sighting_alert(URL, [sighting("P1")], T0)
    msg = alert_message(alert, alert["alert_key"] + ":mail")
    built = build_email(mail, msg)
    assert built["Message-ID"] == message_id(msg.idempotency_key, "vahti@example.org")
    assert built["Message-ID"] == message_id(msg.idempotency_key, "vahti@example.org")
    assert built["Message-ID"].endswith("@example.org>")
    assert built["X-Vahti-Idempotency-Key"] == msg.idempotency_key
    assert message_id("other", "vahti@example.org") != built["Message-ID"]
    record = json.loads(line(msg))
    assert record["idempotency_key"] == msg.idempotency_key and record["refs"] == ["P1"]


def test_settings_from_config(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        '[alerts]\nmax_attempts = 3\n\n[channels.hook]\ntype = "webhook"\n'
        'url = "http://127.0.0.1:9/x"\nsecret_env = "S"\ntimeout_s = 2.0\n')
    cfg = load_config(environ={"VAHTI_HOME": str(home), "VAHTI_ALERTS_BACKOFF_BASE_S": "0.5"})
    settings = AlertSettings.from_config(cfg)
    assert settings.policy == RetryPolicy(3, 0.5, 3600.0)
    assert [c.name for c in settings.channels] == ["hook"]
    assert settings.channel_lease_s() == 60.0
