"""Each webhook format and the syslog channel end to end: sightings -> alerts -> outbox
-> send, to loopback receivers that check what the real services check."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from tests.privacy import assert_no_plaintext, everything_written
from tests.support.formats_receiver import (  # noqa: F401 - the fixture
    ELASTIC_KEY,
    HEC_TOKEN,
    Elastic,
    Slack,
    SplunkHEC,
    SyslogListener,
    Teams,
    formats_receivers_fixture,
    slack_markup,
    slack_texts,
    teams_markdown_texts,
    teams_runs,
)
from tests.support.receivers import HOOK_SECRET, Webhook, free_port, secret_file, self_signed
from vahti.demo.synthetic import make_people
from vahti.display import clean
from vahti.scheduler.alerting import raise_health_alert, raise_sighting_alerts
from vahti.scheduler.channels import DeliveryError, send
from vahti.scheduler.channels.config import parse_channels
from vahti.scheduler.channels.message import Message, digest_message, sample_message
from vahti.scheduler.channels.schema import SCHEMA_ID, load_schema
from vahti.scheduler.channels.signing import WebhookVerificationError, verify, verify_standard
from vahti.scheduler.delivery import AlertSettings, deliver_due
from vahti.storage import alerts as alerts_repo
from vahti.storage import schema
from vahti.storage.outbox import RetryPolicy
from vahti.storage.sightings import Sighting, record_sightings

pytestmark = pytest.mark.integration

PAGE_A = "http://pastesiteexample.onion/raw/aaa111"
HOSTILE_PAGE = 'http://leakboardexample.onion/t/1?q=<!channel>|x]y"z\\w=v'
HOSTILE = '<!channel> <@U024BE7LH> [x](https://evil.example) *b* & | ] " \\ = a\nb'
T0 = datetime(2025, 3, 4, 10, 17, 5, tzinfo=UTC)
VALIDATOR = jsonschema.Draft202012Validator(load_schema())


def seen(page: str, ref: str, id_type: str = "hetu", start: int = 0) -> Sighting:
    kind = "fragment" if id_type == "fragment" else "identifier"
    return Sighting(page_url=page, source="pastes", ref=ref, id_type=id_type, kind=kind,
                    start=start, end=start + 11, score=0.8, page_content_id="ab" * 16)


def all_formats(make, tmp_path) -> tuple[dict, dict, dict[str, str]]:
    """(receivers by channel name, the [channels] tables, the environment)."""
    cert, key = self_signed(tmp_path)
    recv = {"hook": make(Webhook), "splunk": make(SplunkHEC), "elastic": make(Elastic),
            "slack": make(Slack), "teams": make(Teams),
            "sys_udp": make(SyslogListener, "udp"), "sys_tcp": make(SyslogListener, "tcp"),
            "sys_tls": make(SyslogListener, "tls", cert, key)}
    hec_token = secret_file(tmp_path / "hec.token", HEC_TOKEN)
    slack_url = secret_file(tmp_path / "slack.url", recv["slack"].url)
    tables = {
        "hook": {"type": "webhook", "url": recv["hook"].url, "secret_env": "HOOK_SECRET"},
        "splunk": {"type": "webhook", "format": "splunk_hec", "url": recv["splunk"].url,
                   "auth_file": str(hec_token), "index": "vahti", "host": "vahti-test"},
        "elastic": {"type": "webhook", "format": "elastic", "url": recv["elastic"].url,
                    "auth_env": "ELASTIC_API_KEY", "secret_env": "HOOK_SECRET"},
        "slack": {"type": "webhook", "format": "slack", "url_file": str(slack_url)},
        "teams": {"type": "webhook", "format": "teams", "url_env": "TEAMS_URL"},
        "sys_udp": {"type": "syslog", "host": "127.0.0.1", "port": recv["sys_udp"].port},
        "sys_tcp": {"type": "syslog", "host": "127.0.0.1", "port": recv["sys_tcp"].port,
                    "transport": "tcp", "format": "cef", "facility": "auth"},
        "sys_tls": {"type": "syslog", "host": "localhost", "port": recv["sys_tls"].port,
                    "transport": "tls", "ca_file": str(cert)},
    }
    env = {"HOOK_SECRET": HOOK_SECRET, "ELASTIC_API_KEY": ELASTIC_KEY,
           "TEAMS_URL": recv["teams"].url}
    return recv, tables, env


def vahti_payloads(recv: dict) -> list[dict]:
    """Every vahti-shaped payload the receivers got (HEC's event, ECS's vahti object)."""
    return ([json.loads(r["body"]) for r in recv["hook"].requests]
            + [e["event"] for e in recv["splunk"].received]
            + [d["vahti"] for d in recv["elastic"].received])


def test_every_format_gets_every_alert_through_the_outbox(storage, formats_receivers, tmp_path):
    recv, tables, env = all_formats(formats_receivers, tmp_path)
    chans = parse_channels(tables)
    settings = AlertSettings(tuple(chans.values()), RetryPolicy(3, 0.0, 1.0), 60.0)
    record_sightings(storage, [seen(PAGE_A, "P1"), seen(PAGE_A, "P2", "email", 30),
                               seen(HOSTILE_PAGE, "P3", "phone", 3)])
    raised = raise_sighting_alerts(storage, chans, now=T0)
    raise_health_alert(storage, chans, source="board", problem=HOSTILE, since=None,
                       details={"status": 403, "note": HOSTILE}, now=T0)
    report = deliver_due(storage, settings, environ=env)
    assert report.errors == [] and report.sent == 3 * len(tables)
    for name in ("splunk", "elastic", "slack", "teams"):
        assert recv[name].rejected == [] and len(recv[name].received) == 3, name
    for name in ("sys_udp", "sys_tcp", "sys_tls"):
        assert len(recv[name].wait(3)) == 3 and recv[name].rejected == [], name

    # the vahti-shaped payloads all follow the published schema
    payloads = vahti_payloads(recv)
    assert len(payloads) == 9
    for payload in payloads:
        VALIDATOR.validate(payload)
    # both signatures on the plain webhook, and on a SIEM format that has a secret
    for req in recv["hook"].requests + recv["elastic"].requests:
        headers = {k.lower(): v for k, v in req["headers"].items()}
        assert verify(HOOK_SECRET, req["body"], headers["x-vahti-signature"])
        msg_id = verify_standard(HOOK_SECRET, headers, req["body"])
        assert msg_id == headers["x-vahti-idempotency-key"]
        assert headers["x-vahti-schema"] == SCHEMA_ID
    assert "webhook-signature" not in recv["splunk"].requests[0]["headers"]  # no secret set
    assert recv["splunk"].received[0]["index"] == "vahti"
    assert recv["splunk"].received[0]["sourcetype"] == "vahti:alert"
    hec_keys = {e["fields"]["vahti_idempotency_key"] for e in recv["splunk"].received}
    assert hec_keys == {a["alert_key"] + ":splunk" for a in raised} | {
        e["event"]["alert_key"] + ":splunk" for e in recv["splunk"].received
        if e["event"]["kind"] == "health"}
    assert {d["event"]["kind"] for d in recv["elastic"].received} == {"alert"}
    by_url = {d.get("url", {}).get("full"): d for d in recv["elastic"].received}
    assert by_url[PAGE_A]["url"]["domain"] == "pastesiteexample.onion"
    assert by_url[HOSTILE_PAGE]["vahti"]["url"] == HOSTILE_PAGE

    # hostile text: values come back exact from syslog and CEF, inert in chat
    udp = {m["msgid"]: m for m in recv["sys_udp"].received}
    assert udp["health"]["sd"]["vahti@32473"]["problem"] == clean(HOSTILE)  # \n visible
    assert udp["health"]["sd"]["vahti@32473"]["details.note"] == clean(HOSTILE)
    urls = {m["sd"]["vahti@32473"].get("url") for m in recv["sys_tls"].received}
    assert HOSTILE_PAGE in urls
    cef = [m["cef"] for m in recv["sys_tcp"].received]
    assert HOSTILE_PAGE in {c["extension"].get("request") for c in cef}
    assert {m["facility"] for m in recv["sys_tcp"].received} == {4}  # auth
    for message in recv["slack"].received:
        assert all(slack_markup(t) == [] for t in slack_texts(message))
    for message in recv["teams"].received:
        assert teams_markdown_texts(message) == []
    assert any(HOSTILE in teams_runs(m) for m in recv["teams"].received)
    chat = json.dumps(recv["slack"].received + recv["teams"].received)
    assert "pastesiteexample" not in chat and '"P1"' not in chat  # no URL, no refs in chat

    # delivered once: a second pass sends nothing
    assert deliver_due(storage, settings, environ=env).sent == 0
    assert len(recv["splunk"].requests) == 3


def test_digest_test_and_update_messages_in_every_format(storage, formats_receivers, tmp_path):
    recv, tables, env = all_formats(formats_receivers, tmp_path)
    chans = parse_channels(tables)
    record_sightings(storage, [seen(PAGE_A, "P1"), seen(HOSTILE_PAGE, "P2", "email")])
    alerts = raise_sighting_alerts(storage, {}, now=T0)
    stored = alerts_repo.get_alerts(storage, [a["alert_key"] for a in alerts])
    update = {"type": "alert_update", "alert_key": alerts[0]["alert_key"], "kind": "sighting",
              "state": "acknowledged", "previous_state": "new",
              "changed": "2025-03-04T11:00:00Z", "by": "analyst1", "comment": HOSTILE}
    for name, channel in chans.items():
        send(channel, digest_message(name, "daily", T0, T0 + timedelta(days=1), stored,
                                     f"digest:{name}:daily:2025-03-04T00:00Z"), env)
        send(channel, sample_message(name, T0, f"test:{name}:1"), env)
        send(channel, Message(f"update:{alerts[0]['alert_key']}:{name}:1", update, "", ""), env)
    for name in ("splunk", "elastic", "slack", "teams"):
        assert recv[name].rejected == [] and len(recv[name].received) == 3, name
    for payload in vahti_payloads(recv):
        VALIDATOR.validate(payload)
    assert [p["type"] for p in vahti_payloads(recv)[:3]] == ["digest", "test", "alert_update"]
    actions = [d["event"]["action"] for d in recv["elastic"].received]
    assert actions == ["digest", "test", "alert_update"]
    for name in ("sys_udp", "sys_tcp", "sys_tls"):
        got = recv[name].wait(5)  # the digest's two alerts, the digest, the test, the update
        # (each send is a connection of its own: they may be read in any order)
        assert sorted(m["msgid"] for m in got) == ["alert_update", "digest", "sighting",
                                                   "sighting", "test"], name
    updates = {name: next(m for m in recv[name].received if m["msgid"] == "alert_update")
               for name in ("sys_udp", "sys_tcp")}
    upd = updates["sys_udp"]["sd"]["vahti@32473"]
    assert upd["comment"] == clean(HOSTILE) and upd["state"] == "acknowledged"
    assert updates["sys_tcp"]["cef"]["extension"]["cs4"] == "acknowledged"
    for message in recv["slack"].received:
        assert all(slack_markup(t) == [] for t in slack_texts(message))


def test_failures_are_retried_as_today(storage, formats_receivers, tmp_path):
    hec = formats_receivers(SplunkHEC, statuses=[503])
    hec_other = formats_receivers(SplunkHEC)
    teams = formats_receivers(Teams, statuses=[500])
    token = secret_file(tmp_path / "hec.token", HEC_TOKEN)
    wrong = secret_file(tmp_path / "wrong.token", "not-the-token")
    es = formats_receivers(Elastic)
    tables = {
        "splunk": {"type": "webhook", "format": "splunk_hec", "url": hec.url,
                   "auth_file": str(token)},
        "bad_token": {"type": "webhook", "format": "splunk_hec", "url": hec_other.url,
                      "auth_file": str(wrong)},
        "elastic": {"type": "webhook", "format": "elastic", "url": es.url,
                    "auth_env": "ES_KEY"},
        "teams": {"type": "webhook", "format": "teams", "url": teams.url},
        "slack_gone": {"type": "webhook", "format": "slack",
                       "url": f"http://127.0.0.1:{free_port()}/services/x"},
        "syslog_down": {"type": "syslog", "host": "127.0.0.1", "port": free_port(),
                        "transport": "tcp"},
    }
    chans = parse_channels(tables)
    settings = AlertSettings(tuple(chans.values()), RetryPolicy(3, 0.0, 0.0), 60.0)
    record_sightings(storage, [seen(PAGE_A, "P1")])
    raise_sighting_alerts(storage, chans, now=T0)
    env = {"ES_KEY": "wrong-key"}
    first = deliver_due(storage, settings, environ=env)
    assert sorted(first.errors) == [
        "channel bad_token: HTTP 403, HEC code 4",
        "channel elastic: HTTP 401 (security_exception)",
        "channel slack_gone: connection failed",
        "channel splunk: HTTP 503, HEC code 9",
        "channel syslog_down: connection failed (ConnectionRefusedError)",
        "channel teams: HTTP 500"]
    assert first.retrying == 6
    assert [r for r, _ in es.rejected] == ["wrong api key"]
    second = deliver_due(storage, settings, environ={"ES_KEY": ELASTIC_KEY})
    assert second.sent == 3 and len(hec.received) == 1 and len(es.received) == 1
    assert len(teams.received) == 1
    third = deliver_due(storage, settings, environ=env)
    assert third.dead == 3 and third.sent == 0  # 3 attempts each for the broken three
    # the same document again (an answer lost after Elastic stored it): 409, delivered
    storage.db[schema.OUTBOX].update_one({"channel": "elastic"},
                                         {"$set": {"state": "pending", "next_attempt": T0}})
    assert deliver_due(storage, settings, environ={"ES_KEY": ELASTIC_KEY}).sent == 1
    assert [r for r, _ in es.rejected] == ["wrong api key", "repeat id"]


def test_a_group_readable_auth_file_is_refused(storage, formats_receivers, tmp_path):
    hec = formats_receivers(SplunkHEC)
    token = secret_file(tmp_path / "hec.token", HEC_TOKEN)
    token.chmod(0o640)
    chans = parse_channels({"splunk": {"type": "webhook", "format": "splunk_hec",
                                       "url": hec.url, "auth_file": str(token)}})
    record_sightings(storage, [seen(PAGE_A, "P1")])
    raise_sighting_alerts(storage, chans, now=T0)
    report = deliver_due(storage, AlertSettings(tuple(chans.values())), environ={})
    (error,) = report.errors
    assert "auth_file: secret file" in error and "mode 0640" in error
    assert HEC_TOKEN not in error and hec.requests == []  # nothing sent without it
    token.chmod(0o600)
    storage.db[schema.OUTBOX].update_one({}, {"$set": {"next_attempt": T0}})
    assert deliver_due(storage, AlertSettings(tuple(chans.values())), environ={}).sent == 1


def test_a_replayed_delivery_is_refused_by_the_receiver(formats_receivers):
    hook = formats_receivers(Webhook)
    (channel,) = parse_channels({"hook": {"type": "webhook", "url": hook.url,
                                          "secret_env": "HOOK_SECRET"}}).values()
    send(channel, sample_message("hook", T0, "test:hook:1"), {"HOOK_SECRET": HOOK_SECRET})
    (req,) = hook.requests
    headers = {k.lower(): v for k, v in req["headers"].items()}
    sent_at = int(headers["webhook-timestamp"])
    assert verify_standard(HOOK_SECRET, headers, req["body"], now=sent_at + 60)
    # the old header alone cannot tell a replay: the new one can
    assert verify(HOOK_SECRET, req["body"], headers["x-vahti-signature"])
    with pytest.raises(WebhookVerificationError, match="a replay"):
        verify_standard(HOOK_SECRET, headers, req["body"], now=sent_at + 3600)


def test_a_tls_syslog_server_with_an_unknown_certificate_is_refused(formats_receivers,
                                                                     tmp_path):
    cert, key = self_signed(tmp_path)
    (tmp_path / "other").mkdir()
    other, _ = self_signed(tmp_path / "other")  # a CA that did not sign the server's
    listener = formats_receivers(SyslogListener, "tls", cert, key)
    (channel,) = parse_channels({"sys": {"type": "syslog", "host": "localhost",
                                         "port": listener.port, "transport": "tls",
                                         "ca_file": str(other)}}).values()
    with pytest.raises(DeliveryError, match="TLS error"):
        send(channel, sample_message("sys", T0, "test:sys:1"), {})
    assert listener.received == []


def test_channels_command_shows_no_secret_url_or_token(vahti, formats_receivers, tmp_path):
    recv, tables, env = all_formats(formats_receivers, tmp_path)
    write_tables(vahti, tables)
    shown = vahti.run("alerts", "channels", "--json", extra_env=env)
    assert shown.returncode == 0, shown.stderr
    rows = {r["name"]: r for r in json.loads(shown.stdout)}
    assert rows["slack"]["target"].startswith("URL from file ")
    assert rows["teams"]["target"] == "URL from env TEAMS_URL"
    assert rows["splunk"]["format"] == "splunk_hec"
    assert rows["sys_tcp"]["target"] == f"tcp://127.0.0.1:{recv['sys_tcp'].port} (cef)"
    table = vahti.run("alerts", "channels", extra_env={**env, "COLUMNS": "250"})
    assert table.returncode == 0, table.stderr
    assert "webhook (splunk_hec)" in table.stdout and "Authorization from file" in table.stdout
    for secret in ("s1ackS3cretPath", "t3amsS1g", HEC_TOKEN, ELASTIC_KEY, HOOK_SECRET):
        assert secret not in shown.stdout + shown.stderr + table.stdout + table.stderr


def write_tables(vahti, tables: dict) -> None:
    import tomli_w

    vahti.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    (vahti.home / "config.toml").write_text(tomli_w.dumps({"channels": tables}))


def test_nothing_plaintext_in_any_format(vahti, formats_receivers, tmp_path):
    """Synthetic people's identifiers and names are in no payload of any format, nor
    anywhere vahti wrote; the secrets are in no payload and no output either."""
    recv, tables, env = all_formats(formats_receivers, tmp_path)
    write_tables(vahti, tables)
    people = make_people(4, seed=14)
    with vahti.storage() as db:
        record_sightings(db, [seen(f"http://leakforumexample.onion/t/{i}", p.ref, t, 40 * j)
                              for i, p in enumerate(people)
                              for j, t in enumerate(("hetu", "email", "phone"))])
    outputs = [vahti.run("alerts", "raise", "--json"),
               vahti.run("alerts", "deliver", "--json", extra_env=env),
               vahti.run("alerts", "list", "--json"),
               vahti.run("alerts", "channels", "--json", extra_env=env)]
    assert all(o.returncode == 0 for o in outputs), [o.stderr for o in outputs]
    assert json.loads(outputs[1].stdout)["sent"] == 4 * len(tables)
    for name in ("sys_udp", "sys_tcp", "sys_tls"):
        assert len(recv[name].wait(4)) == 4
    received: list[tuple[str, bytes]] = []
    for name, receiver in recv.items():
        if isinstance(receiver, SyslogListener):
            received += [(name, raw) for raw in receiver.raw]
        else:
            received += [(name, r["body"]) for r in receiver.requests]
    assert len(received) == 4 * len(tables)
    received += [(f"cli {i}", o.stdout + o.stderr) for i, o in enumerate(outputs)]
    written = everything_written(vahti, tmp_path / "dump", received)
    plaintext = [v for p in people for v in (p.hetu, p.email, p.phone, p.full_name)]
    assert_no_plaintext(written, plaintext)
    assert_no_plaintext(written, [HOOK_SECRET, HEC_TOKEN, ELASTIC_KEY, "s1ackS3cretPath",
                                 "t3amsS1g"])
