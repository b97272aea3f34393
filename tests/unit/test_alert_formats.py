"""Webhook formats, syslog and CEF text, signatures and the payload schema, without a
server: what each format writes, its escaping of hostile text, and its checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import jsonschema
import pytest

from tests.support.formats_receiver import (
    ecs_problem,
    parse_cef,
    parse_rfc5424,
    slack_blocks_problem,
    slack_markup,
    slack_texts,
    teams_markdown_texts,
    teams_problem,
    teams_runs,
)
from vahti.display import clean
from vahti.scheduler.alerting import build_sighting_alert
from vahti.scheduler.channels.chat import slack_message, teams_message
from vahti.scheduler.channels.config import (
    ChannelConfigError,
    channel_problems,
    parse_channel,
    webhook_url,
)
from vahti.scheduler.channels.errors import DeliveryError
from vahti.scheduler.channels.message import (
    Message,
    alert_message,
    build_payload,
    digest_message,
    sample_message,
)
from vahti.scheduler.channels.schema import SCHEMA_FILE, SCHEMA_ID, load_schema
from vahti.scheduler.channels.siem import ecs_document, elastic_check, hec_check
from vahti.scheduler.channels.signing import (
    WebhookVerificationError,
    signature_headers,
    standard_signature,
    verify,
    verify_standard,
)
from vahti.scheduler.channels.syslog import cef_value_escape, messages, sd_escape, send

T0 = datetime(2025, 3, 4, 10, 17, 5, tzinfo=UTC)
URL = "http://pastesiteexample.onion/raw/abc123"
HOSTILE = '<!channel> <@U024BE7LH> <https://evil.example|click> [x](https://evil.example) ' \
          '*bold* & | ] " \\ = a\nb\r\nCEF:0|x|y'


def sighting(ref: str, id_type: str = "hetu", start: int = 0, url: str = URL) -> dict:
    kind = "fragment" if id_type == "fragment" else "identifier"
    return {"_id": object(), "page_url": url, "ref": ref, "id_type": id_type, "kind": kind,
            "start": start, "score": 0.7, "source": "pastes", "page_content_id": "ab" * 16,
            "first_seen": T0, "last_seen": T0}


def sighting_alert(url: str = URL) -> dict:
    return build_sighting_alert(url, [sighting("P1"), sighting("P2", "email", 30),
                                      sighting("P2", "fragment", 90, url)], T0)


def health_alert(problem: str = "login failed", details: dict | None = None) -> dict:
    return {"alert_key": "h-" + "1" * 40, "kind": "health", "created": T0, "source": "board",
            "problem": problem, "since": T0, "details": details or {"status": 403}}


def update_message(comment: str | None = "checked, a test page") -> Message:
    payload = {"type": "alert_update", "alert_key": "s-" + "2" * 40, "kind": "sighting",
               "state": "false_positive", "previous_state": "new",
               "changed": "2025-03-04T11:00:00Z", "by": "analyst1"}
    if comment is not None:
        payload["comment"] = comment
    return Message("update:s-" + "2" * 40 + ":hook:1", payload, "update", "update")


def every_message() -> list[Message]:
    """One message of every payload type the channels send."""
    s, h = sighting_alert(), health_alert()
    return [alert_message(s, s["alert_key"] + ":hook"), alert_message(h, h["alert_key"] + ":x"),
            digest_message("daily", "hourly", T0, T0.replace(hour=11), [s, h],
                           "digest:daily:hourly:2025-03-04T10:00Z"),
            sample_message("hook", T0, "test:hook:1"), update_message(), update_message(None)]


# --- the schema ---------------------------------------------------------------------------


def test_schema_is_package_data_with_a_versioned_id():
    schema = load_schema()
    assert schema["$id"] == SCHEMA_ID and SCHEMA_ID.endswith(":1")
    assert schema["version"].startswith("1.")
    assert SCHEMA_FILE == "alert-payload.v1.schema.json"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_every_payload_type_validates_and_anything_else_does_not():
    validator = jsonschema.Draft202012Validator(load_schema())
    for message in every_message():
        validator.validate(message.payload)
        validator.validate(json.loads(message.body()))  # what is sent, not just the dict
    sighting = every_message()[0].payload
    for bad in ({**sighting, "identifier": "010101-123N"}, {**sighting, "kind": "person"},
                {**sighting, "persons": -1}, {k: v for k, v in sighting.items()
                                              if k != "alert_key"},
                {**update_message().payload, "state": "closed"}):
        assert not validator.is_valid(bad)


# --- signatures ---------------------------------------------------------------------------


def test_standard_webhooks_signature_is_the_specs():
    body = b'{"type":"test"}'
    headers = signature_headers("s3cret", "test:hook:1", body, now=1674087231)
    assert headers["webhook-id"] == "test:hook:1"
    assert headers["webhook-timestamp"] == "1674087231"
    # the spec: base64 HMAC-SHA256 over "{id}.{timestamp}.{body}", prefixed "v1,"
    mac = hmac.new(b"s3cret", b"test:hook:1.1674087231." + body, hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(mac).decode()
    assert verify("s3cret", body, headers["X-Vahti-Signature"])  # the old header, unchanged
    # a whsec_ secret (the spec's form) is its base64 decoded
    key = b"\x01" * 24
    whsec = "whsec_" + base64.b64encode(key).decode()
    expected = hmac.new(key, b"m1.5.{}", hashlib.sha256).digest()
    assert standard_signature(whsec, "m1", 5, b"{}") == "v1," + base64.b64encode(expected).decode()
    # an id with a "." (the separator) is replaced by a digest: never ambiguous
    assert "." not in signature_headers("s", "a.b", body)["webhook-id"]


def test_verify_refuses_replays_tampering_and_wrong_secrets():
    body = b'{"type":"alert"}'
    now = time.time()
    headers = signature_headers("s3cret", "s-abc:hook", body, now=now)
    assert verify_standard("s3cret", headers, body, now=now + 10) == "s-abc:hook"
    # header names in any case, and a rotation's second signature
    upper = {k.upper(): v for k, v in headers.items()}
    upper["WEBHOOK-SIGNATURE"] = "v1,b2xkLXNpZ25hdHVyZQ== " + upper["WEBHOOK-SIGNATURE"]
    assert verify_standard("s3cret", upper, body, now=now)
    with pytest.raises(WebhookVerificationError, match="a replay"):
        verify_standard("s3cret", headers, body, now=now + 301)  # captured and sent later
    with pytest.raises(WebhookVerificationError, match="a replay"):
        verify_standard("s3cret", headers, body, now=now - 301)
    with pytest.raises(WebhookVerificationError, match="no webhook-signature matches"):
        verify_standard("s3cret", headers, body + b" ", now=now)
    with pytest.raises(WebhookVerificationError, match="no webhook-signature matches"):
        verify_standard("other", headers, body, now=now)
    # a fresh timestamp on a captured signature does not verify: the time is signed
    moved = {**headers, "webhook-timestamp": str(int(now) + 100)}
    with pytest.raises(WebhookVerificationError, match="no webhook-signature matches"):
        verify_standard("s3cret", moved, body, now=now + 100)
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify_standard("s3cret", {}, body)


# --- SIEM formats -------------------------------------------------------------------------


def test_ecs_document_has_ecs_fields_and_the_payload_under_vahti():
    message = every_message()[0]
    doc = ecs_document(message.payload, message.idempotency_key)
    assert ecs_problem(doc) == ""
    assert doc["@timestamp"] == "2025-03-04T10:17:05.000Z"
    assert doc["event"]["kind"] == "alert" and doc["event"]["dataset"] == "vahti.alert"
    assert doc["event"]["id"] == message.payload["alert_key"]
    assert doc["url"] == {"full": URL, "original": URL, "scheme": "http",
                          "domain": "pastesiteexample.onion", "path": "/raw/abc123"}
    assert doc["vahti"] == message.payload
    assert doc["labels"] == {"vahti_type": "alert", "vahti_kind": "sighting",
                             "vahti_source": "pastes"}
    for other in every_message()[1:]:
        assert ecs_problem(ecs_document(other.payload, other.idempotency_key)) == ""


def test_hec_and_elastic_answers():
    hec_check(200, b'{"text":"Success","code":0}')
    invalid = b'{"text":"Invalid token","code":4}'
    for status, answer, shown in ((200, invalid, "HTTP 200, HEC code 4"),
                                  (403, invalid, "HTTP 403, HEC code 4"),
                                  (503, b"<html>busy</html>", "HTTP 503")):
        with pytest.raises(DeliveryError) as err:
            hec_check(status, answer)
        assert str(err.value) == shown
    elastic_check(201, b'{"result":"created"}')
    elastic_check(409, b'{"error":{"type":"version_conflict_engine_exception"},"status":409}')
    with pytest.raises(DeliveryError, match=r"^HTTP 401 \(security_exception\)$"):
        elastic_check(401, b'{"error":{"type":"security_exception","reason":"x"},"status":401}')
    with pytest.raises(DeliveryError, match=r"^HTTP 400$"):
        elastic_check(400, b'{"error":{"type":"<b>evil</b>"}}')


# --- chat formats: shapes, limits, hostile text ------------------------------------------


def hostile_messages() -> list[Message]:
    h = health_alert(problem=HOSTILE, details={"note": HOSTILE})
    return [alert_message(h, "h:x"), update_message(HOSTILE),
            digest_message("d", "daily", T0, T0, [h] * 60, "digest:d:daily:x")]


def test_slack_messages_fit_block_kit_and_hostile_text_stays_text():
    for message in every_message() + hostile_messages():
        slack = slack_message(message.payload)
        assert slack["text"] and slack_blocks_problem(slack["blocks"]) == ""
        for text in slack_texts(slack):
            assert slack_markup(text) == []  # no link, no mention, no <!channel>
    digest = slack_message(hostile_messages()[2].payload)
    assert len(digest["blocks"]) <= 50 and "more alerts" in json.dumps(digest)
    shown = slack_message(hostile_messages()[1].payload)["blocks"][1]["text"]["text"]
    assert "&lt;!channel&gt;" in shown and "&amp;" in shown
    assert shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").count(
        "<!channel>") == 1  # shown as text


def test_slack_section_text_is_cut_at_3000():
    long = health_alert(details={f"k{i}": "v" * 200 for i in range(30)})
    for block in slack_message(build_payload(long))["blocks"]:
        assert len(block.get("text", {}).get("text", "")) <= 3000


def test_teams_cards_are_adaptive_and_outside_text_only_in_text_runs():
    for message in every_message() + hostile_messages():
        teams = teams_message(message.payload)
        assert teams_problem(teams) == ""
        assert teams_markdown_texts(teams) == []
    runs = teams_runs(teams_message(hostile_messages()[1].payload))
    assert HOSTILE in runs  # whole, as plain text


def test_chat_carries_no_url_and_no_refs():
    message = every_message()[0]
    for body in (json.dumps(slack_message(message.payload)),
                 json.dumps(teams_message(message.payload))):
        assert "pastesiteexample" not in body and "P1" not in body and "P2" not in body
        assert message.payload["alert_key"] in body


# --- syslog and CEF text ------------------------------------------------------------------


def syslog_channel(**options) -> object:
    return parse_channel("sys", {"type": "syslog", "host": "127.0.0.1", **options})


def test_rfc5424_structured_data_escapes_and_parses_back():
    assert sd_escape('a"b\\c]d') == 'a\\"b\\\\c\\]d'
    hostile_url = 'http://x.onion/a"b]c\\d=e|f'
    alert = build_payload(sighting_alert(hostile_url))
    (raw,) = messages(syslog_channel(facility="local3", severity="err"),
                      Message("k1", alert, "", ""))
    parsed = parse_rfc5424(raw)
    assert parsed["facility"] == 19 and parsed["severity"] == 3
    assert parsed["msgid"] == "sighting" and parsed["app_name"] == "vahti" and parsed["bom"]
    sd = parsed["sd"]["vahti@32473"]
    assert sd["url"] == hostile_url and sd["refs"] == "P1,P2" and sd["counts.email"] == "1"
    assert sd["idempotency_key"] == "k1" and sd["type"] == "alert"
    assert "\n" not in parsed["msg"] and "2 persons" in parsed["msg"]
    (update,) = messages(syslog_channel(), update_message(HOSTILE))
    parsed = parse_rfc5424(update)
    # exact but for the line breaks, shown as \n: a syslog line stays one line
    assert parsed["sd"]["vahti@32473"]["comment"] == clean(HOSTILE) and parsed["severity"] == 6
    assert "a\\nb\\r\\nCEF" in parsed["sd"]["vahti@32473"]["comment"]


def test_terminal_controls_are_written_visible_in_syslog_and_cef():
    evil = "red \x1b[31m bidi \u202e end"
    for fmt in ("rfc5424", "cef"):
        h = health_alert(problem=evil, details={"note": evil})
        (raw,) = messages(syslog_channel(format=fmt), alert_message(h, "h:x"))
        assert b"\x1b" not in raw and "\u202e".encode() not in raw
        assert b"\\x1b[31m" in raw or b"\\\\x1b[31m" in raw


def test_cef_escapes_header_and_extension_and_parses_back():
    assert cef_value_escape("a=b\\c\nd") == "a\\=b\\\\c\\nd"
    h = health_alert(problem="bad | pipe \\ and = sign\nnext")
    (raw,) = messages(syslog_channel(format="cef"), alert_message(h, "h:x"))
    parsed = parse_rfc5424(raw)
    assert parsed["sd"] == {}
    cef = parse_cef(parsed["msg"])
    assert cef["signature_id"] == "health" and cef["severity"] == 6
    assert cef["name"] == "vahti health: board: bad | pipe \\ and = sign\\nnext"
    assert cef["extension"]["externalId"] == h["alert_key"]
    update = messages(syslog_channel(format="cef"), update_message(HOSTILE))[0]
    ext = parse_cef(parse_rfc5424(update)["msg"])["extension"]
    assert ext["cs4"] == "false_positive" and ext["suser"] == "analyst1"
    assert ext["cs6Label"] == "idempotency_key" and ext["cs6"] == update_message().idempotency_key
    assert " ".join(HOSTILE.split()) in ext["msg"]  # whole, on one line
    url = 'http://x.onion/p?a=1|b\\c'
    (sighting_raw,) = messages(syslog_channel(format="cef"),
                               alert_message(sighting_alert(url), "s:x"))
    ext = parse_cef(parse_rfc5424(sighting_raw)["msg"])["extension"]
    assert ext["request"] == url and ext["cn1"] == "2" and ext["cs3"] == "P1,P2"


def test_a_message_too_long_for_one_datagram_is_refused_before_sending():
    alert = sighting_alert()
    alert["refs"] = [f"REF-{i:06d}" for i in range(7000)]
    with pytest.raises(DeliveryError, match='too long for udp: use transport = "tcp"'):
        send(syslog_channel(port=9), alert_message(alert, "s:x"))


def test_a_digest_is_one_syslog_message_per_alert_and_one_for_itself():
    digest = every_message()[2]
    out = [parse_rfc5424(m) for m in messages(syslog_channel(), digest)]
    assert [m["msgid"] for m in out] == ["sighting", "health", "digest"]
    assert out[2]["sd"]["vahti@32473"]["alerts_count"] == "2"


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize("table, key, words", [
    ({"type": "webhook", "url": "https://h.example/", "format": "xml"}, "format", "one of"),
    ({"type": "webhook", "url": "https://h.example/", "format": "splunk_hec"}, "auth_env",
     "splunk_hec token: set exactly one"),
    ({"type": "webhook", "url": "https://h.example/", "url_env": "U", "format": "slack"}, "url",
     "exactly one of url, url_env and url_file"),
    ({"type": "webhook", "format": "slack"}, "url", "exactly one of url"),
    ({"type": "webhook", "url_file": "rel/path", "format": "teams"}, "url_file", "absolute"),
    ({"type": "webhook", "url": "https://h.example/", "format": "elastic", "auth_env": "K",
      "auth_header": "Bad Header"}, "auth_header", "header name"),
    ({"type": "webhook", "url": "https://h.example/", "format": "slack", "token": "x"},
     "token", "secrets never go in config.toml"),
    ({"type": "syslog"}, "host", "required"),
    ({"type": "syslog", "host": "h", "transport": "sctp"}, "transport", "one of"),
    ({"type": "syslog", "host": "h", "facility": "nope"}, "facility", "facility name"),
    ({"type": "syslog", "host": "h", "severity": "loud"}, "severity", "severity name"),
    ({"type": "syslog", "host": "h", "format": "leef"}, "format", "one of"),
    ({"type": "syslog", "host": "h", "sd_id": "vahti"}, "sd_id", "enterprise number"),
    ({"type": "syslog", "host": "h", "ca_file": "/ca.pem"}, "ca_file", "tls"),
])
def test_format_and_syslog_config_errors(table, key, words):
    with pytest.raises(ChannelConfigError) as err:
        parse_channel("c", table)
    assert f"[channels.c] {key}:" in str(err.value) and words in str(err.value)


def test_secret_urls_and_auth_files(tmp_path):
    url_file = tmp_path / "slack.url"
    url_file.write_text("https://hooks.slack.example/services/T/B/S3CRET\n")
    url_file.chmod(0o600)
    slack = parse_channel("chat", {"type": "webhook", "format": "slack",
                                   "url_file": str(url_file)})
    assert webhook_url(slack) == "https://hooks.slack.example/services/T/B/S3CRET"
    shown = slack.describe()
    assert shown["target"] == f"URL from file {url_file}" and "S3CRET" not in json.dumps(shown)
    assert channel_problems(slack) == []
    url_file.chmod(0o640)  # group-readable: refused, and said so without the value
    (problem,) = channel_problems(slack)
    assert "mode 0640" in problem and "S3CRET" not in problem
    url_file.write_text("ftp://x.example/\n")
    url_file.chmod(0o600)
    with pytest.raises(ChannelConfigError, match="url_file: must be an http"):
        webhook_url(slack)
    hec = parse_channel("splunk", {"type": "webhook", "format": "splunk_hec",
                                   "url": "https://splunk.example:8088",
                                   "auth_env": "HEC_TOKEN"})
    assert hec.describe()["auth"] == "Authorization from env HEC_TOKEN"
    assert "secret" not in hec.describe()  # no signing secret: none needed for a SIEM format
    (problem,) = channel_problems(hec, environ={})
    assert "HEC_TOKEN is not set" in problem
    assert channel_problems(hec, environ={"HEC_TOKEN": "t"}) == []
