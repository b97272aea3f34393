"""MISP and TheHive channels and `vahti export misp|stix`, end to end: sightings stored,
`vahti alerts raise|deliver` (the outbox) to loopback MISP- and TheHive-shaped servers
(tests/support/intel_receiver.py), exports written by real `vahti` processes and read back
with pymisp and the STIX validator."""

from __future__ import annotations

import json
import stat

import pymisp
import pytest
import stix2validator

from tests.privacy import assert_no_plaintext, everything_written
from tests.support.intel_receiver import (  # noqa: F401 - fixtures
    HIVE_KEY,
    MISP_KEY,
    misp_server_fixture,
    thehive_server_fixture,
)
from tests.support.receivers import secret_file
from vahti.demo.synthetic import make_people
from vahti.scheduler.channels import DeliveryError, send
from vahti.scheduler.channels.config import parse_channels
from vahti.scheduler.channels.message import Message
from vahti.scheduler.channels.misp_event import alert_uuid, key_attribute_uuid
from vahti.storage.sightings import Sighting, record_sightings

pytestmark = pytest.mark.integration

PAGE_A = "http://pastesiteexample.onion/raw/aaa111"
PAGE_B = "http://leakforumexample.onion/t/bbb222"


def seen(page: str, ref: str, id_type: str = "hetu", start: int = 0, score: float = 1.0,
         source: str = "pastes") -> Sighting:
    kind = "fragment" if id_type == "fragment" else "identifier"
    return Sighting(page_url=page, source=source, ref=ref, id_type=id_type, kind=kind,
                    start=start, end=start + 11, score=score, page_content_id="cd" * 16)


def write_config(vahti, text: str) -> None:
    vahti.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    (vahti.home / "config.toml").write_text(text)


def run_ok(vahti, *args, **kw):
    result = vahti.run(*args, **kw)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def misp_table(url: str, key_file, extra: str = "", name: str = "misp") -> str:
    return (f'[channels.{name}]\ntype = "misp"\nurl = "{url}"\nkey_file = "{key_file}"\n'
            f'timeout_s = 5.0\n{extra}\n')


def hive_table(url: str, extra: str = "", name: str = "hive") -> str:
    return (f'[channels.{name}]\ntype = "thehive"\nurl = "{url}"\nkey_env = "HIVE_KEY"\n'
            f'organisation = "soc"\ntimeout_s = 5.0\n{extra}\n')


def update(alert_key: str, state: str, previous: str) -> Message:
    payload = {"type": "alert_update", "alert_key": alert_key, "kind": "sighting",
               "state": state, "previous_state": previous, "changed": "2026-12-04T10:00:00Z",
               "by": "analyst", "comment": "checked"}
    return Message(f"{alert_key}:update:{state}", payload, "", "")


def alert_keys(vahti) -> list[str]:
    listed = json.loads(run_ok(vahti, "alerts", "list", "--json").stdout)
    return sorted(item["alert_key"] for item in listed)


# --- MISP ------------------------------------------------------------------------------------


def test_misp_channel_one_event_per_alert_then_updates(vahti, misp_server, tmp_path):
    server = misp_server()
    key_file = secret_file(tmp_path / "misp.key", MISP_KEY)
    write_config(vahti, misp_table(server.url, key_file))
    with vahti.storage() as db:
        record_sightings(db, [seen(PAGE_A, "P1"), seen(PAGE_A, "P2", "email", 20),
                              seen(PAGE_A, "P3", "fragment", 90, score=0.8),
                              seen(PAGE_B, "P4", "phone", 3, source="board")])
    run_ok(vahti, "alerts", "raise")
    report = json.loads(run_ok(vahti, "alerts", "deliver", "--json").stdout)
    assert report["sent"] == 2 and report["retrying"] == 0, report
    assert server.rejected == []
    assert len(server.events) == 2
    keys = alert_keys(vahti)
    by_url = {}
    for key in keys:
        event = server.event(str(alert_uuid(key)))
        values = {a.type + ":" + a.comment: a.value for a in event.attributes}
        by_url[values.get("url:page where identifiers were seen (identifiers in the URL "
                          "tokenised)")] = (event, values)
    event_a, values_a = by_url[PAGE_A]
    tags_a = {t.name for t in event_a.tags}
    assert tags_a >= {"tlp:amber", 'infoleak:submission="crawler"',
                      'infoleak:automatic-detection="mail"',
                      'gdpr:special-categories="health"'}
    assert values_a["counter:persons"] == "3" and values_a["counter:identifier hits: hetu"] == "1"
    assert values_a["counter:record fragments"] == "1"
    assert values_a["text:keyed page content id (vahti's key: not a plain hash of the page)"] \
        == "cd" * 16
    assert not any(v in ("P1", "P2", "P3") for v in values_a.values())  # include_refs off
    event_b, _ = by_url[PAGE_B]
    assert 'gdpr:special-categories="health"' not in {t.name for t in event_b.tags}
    assert 'infoleak:automatic-detection="phone-number"' in {t.name for t in event_b.tags}

    # a resend of a delivered alert (a crash after MISP took it) creates nothing
    channel = parse_channels({"misp": {"type": "misp", "url": server.url,
                                       "key_file": str(key_file)}})["misp"]
    with vahti.storage() as db:
        from vahti.scheduler.channels.message import alert_message
        from vahti.storage.alerts import get_alert
        message = alert_message(get_alert(db, keys[0]), keys[0] + ":misp")
    adds = len([r for r in server.received if r["route"] == "events/add"])
    send(channel, message)
    assert len([r for r in server.received if r["route"] == "events/add"]) == adds
    assert len(server.events) == 2

    # triage: acknowledged, then false positive: the taxonomy tags follow the state
    send(channel, update(keys[0], "acknowledged", "new"))
    assert 'workflow:state="incomplete"' in server.tags_of(str(alert_uuid(keys[0])))
    send(channel, update(keys[0], "false_positive", "acknowledged"))
    tags = server.tags_of(str(alert_uuid(keys[0])))
    assert 'infoleak:confirmed="false-positive"' in tags and 'workflow:state="complete"' in tags
    assert 'workflow:state="incomplete"' not in tags
    assert not any("checked" in json.dumps(r["body"]) for r in server.received)  # no comment
    with pytest.raises(DeliveryError, match="no MISP event for this alert yet"):
        send(channel, update("not-delivered-key", "resolved", "new"))

    test = run_ok(vahti, "alerts", "test", "misp")
    assert "test alert sent to channel misp" in test.stdout
    assert len(server.events) == 2  # a test creates nothing
    listed = json.loads(run_ok(vahti, "alerts", "channels", "--json").stdout)
    assert listed == [{**listed[0], "name": "misp", "type": "misp", "target": server.url,
                       "secret": f"file {key_file}", "problems": []}]
    assert MISP_KEY not in run_ok(vahti, "alerts", "channels").stdout


def test_misp_per_source_event_collects_alerts(vahti, misp_server, tmp_path):
    server = misp_server()
    key_file = secret_file(tmp_path / "misp.key", MISP_KEY)
    write_config(vahti, misp_table(server.url, key_file, 'event_per = "source"\n'
                                                         'include_refs = true\ntlp = "red"\n'))
    with vahti.storage() as db:
        record_sightings(db, [seen(PAGE_A, "P1"), seen(PAGE_A + "x", "P2", "email", 4)])
    run_ok(vahti, "alerts", "raise")
    report = json.loads(run_ok(vahti, "alerts", "deliver", "--json").stdout)
    assert report["sent"] == 2, report
    assert len(server.events) == 1 and server.rejected == []
    event = server.event(next(iter(server.events)))
    assert event.info == "vahti: sightings on source pastes"
    assert "tlp:red" in {t.name for t in event.tags}
    keys = alert_keys(vahti)
    assert {a.value for a in event.attributes if a.category == "Internal reference"} == set(keys)
    assert {"P1", "P2"} <= {a.value for a in event.attributes}  # include_refs = true
    assert [r["route"] for r in server.received] == ["events/add", "events/edit"]
    channel = parse_channels({"m": {"type": "misp", "url": server.url, "event_per": "source",
                                    "key_file": str(key_file)}})["m"]
    send(channel, update(keys[1], "resolved", "new"))
    assert server.tags_of(key_attribute_uuid(keys[1])) == [
        'infoleak:confirmed="true-positive"', 'workflow:state="complete"']


def test_misp_failures_are_retried_with_short_reasons(vahti, misp_server, tmp_path):
    server = misp_server(statuses=[503])
    key_file = secret_file(tmp_path / "misp.key", MISP_KEY)
    write_config(vahti, misp_table(server.url, key_file))
    with vahti.storage() as db:
        record_sightings(db, [seen(PAGE_A, "P1")])
    run_ok(vahti, "alerts", "raise")
    fast = {"VAHTI_ALERTS_BACKOFF_BASE_S": "0"}
    first = json.loads(run_ok(vahti, "alerts", "deliver", "--json", extra_env=fast).stdout)
    assert first["retrying"] == 1, first
    assert first["errors"] == ["channel misp: MISP server error (HTTP 5xx)"]
    second = json.loads(run_ok(vahti, "alerts", "deliver", "--json", extra_env=fast).stdout)
    assert second["sent"] == 1 and len(server.events) == 1
    wrong = secret_file(tmp_path / "wrong.key", "not-the-key")
    write_config(vahti, misp_table(server.url, wrong))
    failed = vahti.run("alerts", "test", "misp")
    assert failed.returncode == 2
    assert "MISP login refused (check the API key)" in failed.stderr
    assert "not-the-key" not in failed.stderr and MISP_KEY not in failed.stderr
    no_role = misp_server(perm_add=False)
    write_config(vahti, misp_table(no_role.url, key_file))
    refused = vahti.run("alerts", "test", "misp")
    assert "may not add or tag events" in refused.stderr


# --- TheHive ---------------------------------------------------------------------------------


def test_thehive_alerts_duplicates_updates_and_retries(vahti, thehive_server):
    server = thehive_server(statuses=[500])
    write_config(vahti, hive_table(server.url))
    env = {"HIVE_KEY": HIVE_KEY, "VAHTI_ALERTS_BACKOFF_BASE_S": "0"}
    with vahti.storage() as db:
        record_sightings(db, [seen(PAGE_A, "P1"), seen(PAGE_A, "P2", "fragment", 50, 0.7),
                              seen(PAGE_B, "P3", "email", 9, source="b_o*a[r]d")])
    run_ok(vahti, "alerts", "raise")
    first = json.loads(run_ok(vahti, "alerts", "deliver", "--json", extra_env=env).stdout)
    assert first["errors"] == ["channel hive: HTTP 500"] and first["retrying"] >= 1, first
    run_ok(vahti, "alerts", "deliver", "--json", extra_env=env)
    keys = alert_keys(vahti)
    assert sorted(a["sourceRef"] for a in server.alerts.values()) == keys
    assert server.rejected == []
    by_url = {a["observables"][0]["data"]: a for a in server.alerts.values()}
    a = by_url[PAGE_A]
    assert a["type"] == "vahti-sighting" and a["source"] == "vahti"
    assert a["tlp"] == 2 and a["pap"] == 2 and a["severity"] == 2
    assert 'gdpr:special-categories="health"' in a["tags"]
    assert {"dataType": "other", "data": "cd" * 16} .items() <= a["observables"][1].items()
    assert "| persons | 2 |" in a["description"] and "P1" not in a["description"]
    b = by_url[PAGE_B]
    assert r"**b\_o\*a\[r\]d**" in b["description"]  # outside text inert in markdown
    assert {h for _, h in server.requests} >= {"/api/v1/alert"}

    # a resend: TheHive answers 400 "already exists", which counts as delivered
    channel = parse_channels({"hive": {"type": "thehive", "url": server.url,
                                       "key_env": "HIVE_KEY"}})["hive"]
    with vahti.storage() as db:
        from vahti.scheduler.channels.message import alert_message
        from vahti.storage.alerts import get_alert
        message = alert_message(get_alert(db, keys[0]), keys[0] + ":hive")
    send(channel, message, env)
    assert ("duplicate sourceRef", keys[0]) in server.rejected
    assert len(server.alerts) == 2

    send(channel, update(keys[0], "acknowledged", "new"), env)
    send(channel, update(keys[0], "resolved", "acknowledged"), env)
    tags = next(x for x in server.alerts.values() if x["sourceRef"] == keys[0])["tags"]
    assert "vahti:state=resolved" in tags and "vahti:state=acknowledged" not in tags
    patches = [r["body"] for r in server.received if r["route"] == "patch"]
    assert patches[-1] == {"addTags": ["vahti:state=resolved"],
                           "removeTags": ["vahti:state=acknowledged"]}
    with pytest.raises(DeliveryError, match="no TheHive alert with this sourceRef yet"):
        send(channel, update("unknown-key", "resolved", "new"), env)
    assert "test alert sent" in run_ok(vahti, "alerts", "test", "hive", extra_env=env).stdout
    bad = vahti.run("alerts", "test", "hive", extra_env={"HIVE_KEY": "nope-nope"})
    assert bad.returncode == 2 and "HTTP 401" in bad.stderr and "nope-nope" not in bad.stderr


# --- exports ---------------------------------------------------------------------------------


def test_exports_load_in_pymisp_and_pass_the_stix_validator(vahti, tmp_path):
    write_config(vahti, "")
    with vahti.storage() as db:
        record_sightings(db, [seen(PAGE_A, "P1"), seen(PAGE_A, "P2", "fragment", 50, 0.7),
                              seen(PAGE_B + "'q\\", "P3", "email", 9, source="board")])
    run_ok(vahti, "alerts", "raise")
    keys = alert_keys(vahti)
    out = tmp_path / "misp.json"
    done = run_ok(vahti, "export", "misp", "--since", "1d", "--out", str(out))
    assert "2 MISP events (2 sighting alerts" in done.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    document = json.loads(out.read_text())
    uuids = []
    for item in document["response"]:
        event = pymisp.MISPEvent()
        event.load(item)
        uuids.append(event.uuid)
        assert event.attributes and "tlp:amber" in {t.name for t in event.tags}
    assert sorted(uuids) == sorted(str(alert_uuid(k)) for k in keys)
    again = vahti.run("export", "misp", "--since", "1d", "--out", str(out))
    assert again.returncode == 2 and "exists: pass --force" in again.stderr
    run_ok(vahti, "export", "misp", "--since", "2020-01-01", "--out", str(out), "--force")
    assert json.loads(out.read_text()) == document  # stable: the same events, same uuids
    empty = tmp_path / "empty.json"
    run_ok(vahti, "export", "misp", "--since", "2020-01-01", "--until", "2020-02-01",
           "--out", str(empty))
    assert json.loads(empty.read_text()) == {"response": []}
    bad = vahti.run("export", "misp", "--since", "yesterday", "--out", str(empty), "--force")
    assert bad.returncode == 2 and "not a time" in bad.stderr

    bundle_file = tmp_path / "bundle.json"
    run_ok(vahti, "export", "stix", "--since", "7d", "--out", str(bundle_file))
    assert stat.S_IMODE(bundle_file.stat().st_mode) == 0o600
    result = stix2validator.validate_file(str(bundle_file))
    assert result.is_valid, [str(e) for o in result.object_results for e in o.errors]
    warnings = [str(w) for o in result.object_results for w in o.warnings]
    assert warnings == []
    bundle = json.loads(bundle_file.read_text())
    kinds = [o["type"] for o in bundle["objects"]]
    assert kinds.count("sighting") == 2 and kinds.count("observed-data") == 2
    assert kinds.count("identity") == 1 and kinds.count("indicator") == 2
    urls = {o["value"] for o in bundle["objects"] if o["type"] == "url"}
    assert urls == {PAGE_A, PAGE_B + "'q%5C"}  # a URI: the backslash percent-encoded
    for sighting in (o for o in bundle["objects"] if o["type"] == "sighting"):
        assert sighting["sighting_of_ref"].startswith("indicator--")
        assert sighting["observed_data_refs"][0].startswith("observed-data--")
        assert sighting["where_sighted_refs"] == [
            next(o["id"] for o in bundle["objects"] if o["type"] == "identity")]
    run_ok(vahti, "export", "stix", "--since", "7d", "--out", str(bundle_file), "--force")
    assert json.loads(bundle_file.read_text()) == bundle  # a re-export is the same bundle


# --- privacy -------------------------------------------------------------------------------


def test_nothing_plaintext_in_any_payload_or_export(vahti, misp_server, thehive_server,
                                                    tmp_path):
    misp = misp_server()
    hive = thehive_server()
    key_file = secret_file(tmp_path / "misp.key", MISP_KEY)
    write_config(vahti, misp_table(misp.url, key_file, "include_refs = true\n")
                 + misp_table(misp.url, key_file, 'event_per = "source"\n', name="misp_src")
                 + hive_table(hive.url, "include_refs = true\n"))
    env = {"HIVE_KEY": HIVE_KEY}
    people = make_people(5, seed=83)
    sightings = [seen(PAGE_A, people[0].ref, "fragment", 5, score=0.8)]
    for i, person in enumerate(people):  # two people a thread, three identifiers each
        page = f"http://leakforumexample.onion/t/{i // 2}"
        sightings += [seen(page, person.ref, t, 40 * i + j)
                      for j, t in enumerate(("hetu", "email", "phone"))]
    with vahti.storage() as db:
        record_sightings(db, sightings)
    outputs = [run_ok(vahti, "alerts", "raise", "--json"),
               run_ok(vahti, "alerts", "deliver", "--json", extra_env=env)]
    report = json.loads(outputs[1].stdout)
    assert report["sent"] == 12 and report["retrying"] == 0, report  # 4 alerts x 3 channels
    keys = alert_keys(vahti)
    for channel in parse_channels({
            "m": {"type": "misp", "url": misp.url, "key_file": str(key_file)},
            "h": {"type": "thehive", "url": hive.url, "key_env": "HIVE_KEY"}}).values():
        send(channel, update(keys[0], "false_positive", "new"), env)
    misp_file, stix_file = tmp_path / "e.misp.json", tmp_path / "e.stix.json"
    outputs += [run_ok(vahti, "export", "misp", "--since", "1d", "--include-refs",
                       "--out", str(misp_file)),
                run_ok(vahti, "export", "stix", "--since", "1d", "--out", str(stix_file))]
    received = [("misp", json.dumps(r["body"])) for r in misp.received]
    received += [("thehive", json.dumps(r["body"])) for r in hive.received]
    received += [("misp export", misp_file.read_bytes()), ("stix export", stix_file.read_bytes())]
    received += [(f"cli {i}", o.stdout + o.stderr) for i, o in enumerate(outputs)]
    assert len(misp.received) >= 8 and len(hive.received) >= 4
    written = everything_written(vahti, tmp_path / "dump", received)
    plaintext = [v for p in people for v in (p.hetu, p.email, p.phone, p.full_name)]
    assert_no_plaintext(written, plaintext)
    assert_no_plaintext(written, [MISP_KEY, HIVE_KEY])


def test_config_refuses_inline_keys_and_bad_values():
    from vahti.scheduler.channels.config import ChannelConfigError

    ok = {"type": "misp", "url": "https://misp.example", "key_env": "MISP_KEY"}
    parse_channels({"m": ok})
    for extra, problem in (({"key": "abc"}, "secrets never go in config.toml"),
                           ({"tlp": "purple"}, "tlp: must be one of"),
                           ({"event_per": "page"}, "event_per: must be one of"),
                           ({"threat_level": 9}, "threat_level: must be from 1 to 4"),
                           ({"key_file": "/k"}, "set exactly one of key_env and key_file"),
                           ({"url": "ftp://x"}, "url: must be an http")):
        with pytest.raises(ChannelConfigError, match=problem):
            parse_channels({"m": {**ok, **extra}})
    hive = parse_channels({"h": {"type": "thehive", "url": "https://hive.example:9000/x",
                                 "key_file": "/etc/vahti/hive.key"}})["h"]
    assert hive.describe()["target"] == "https://hive.example:9000/"
    assert hive.describe()["secret"] == "file /etc/vahti/hive.key"


def test_a_digest_delivers_each_alert_and_health_alerts_too(storage, misp_server,
                                                            thehive_server, tmp_path):
    from datetime import UTC, datetime, timedelta

    from vahti.scheduler.alerting import raise_health_alert, raise_sighting_alerts
    from vahti.scheduler.delivery import AlertSettings, deliver_due, period_of
    from vahti.storage.outbox import RetryPolicy

    misp, hive = misp_server(), thehive_server()
    key_file = secret_file(tmp_path / "misp.key", MISP_KEY)
    chans = parse_channels({
        "m": {"type": "misp", "url": misp.url, "key_file": str(key_file), "mode": "digest",
              "digest": "hourly"},
        "h": {"type": "thehive", "url": hive.url, "key_env": "HIVE_KEY", "mode": "digest",
              "digest": "hourly"}})
    settings = AlertSettings(tuple(chans.values()), RetryPolicy(3, 1.0, 10.0), 60.0)
    t0 = datetime(2026, 12, 1, 9, 5, tzinfo=UTC)
    env = {"HIVE_KEY": HIVE_KEY}
    record_sightings(storage, [seen(PAGE_A, "P1"), seen(PAGE_B, "P2", "email", 1)])
    raise_sighting_alerts(storage, chans, now=t0)
    raise_health_alert(storage, chans, source="pastes", problem="login <b>failed</b>",
                       since=t0, details={}, now=t0 + timedelta(minutes=5))
    _, end = period_of(t0, "hourly")
    report = deliver_due(storage, settings, end + timedelta(seconds=1), environ=env)
    assert report.sent == 2 and report.summaries == 2, report
    assert len(misp.events) == 3 and misp.rejected == []
    infos = sorted(e["info"] for e in misp.events.values())
    assert infos[0] == "vahti health: pastes: login <b>failed</b>"
    kinds = sorted(a["type"] for a in hive.alerts.values())
    assert kinds == ["vahti-health", "vahti-sighting", "vahti-sighting"]
    health = next(a for a in hive.alerts.values() if a["type"] == "vahti-health")
    assert r"login \<b\>failed\</b\>" in health["description"]  # inert markdown
    assert "observables" not in health


def test_https_with_the_channels_ca_file(misp_server, thehive_server, tmp_path):
    from tests.support.receivers import self_signed

    cert, key = self_signed(tmp_path)
    misp, hive = misp_server(tls=(cert, key)), thehive_server(tls=(cert, key))
    key_file = secret_file(tmp_path / "misp.key", MISP_KEY)
    env = {"HIVE_KEY": HIVE_KEY}
    tables = {"m": {"type": "misp", "url": misp.url, "key_file": str(key_file)},
              "h": {"type": "thehive", "url": hive.url, "key_env": "HIVE_KEY"}}
    test = Message("t", {"type": "test", "kind": "test", "alert_key": "t", "channel": "x",
                         "created": "2026-12-04T10:00:00Z"}, "", "")
    for channel in parse_channels(tables).values():  # the system's CAs: refused
        with pytest.raises(DeliveryError, match=r"^TLS error \(certificate not trusted\?\)$"):
            send(channel, test, env)
    trusted = {n: {**t, "ca_file": str(cert)} for n, t in tables.items()}
    for channel in parse_channels(trusted).values():
        send(channel, test, env)
    assert ("GET", "/users/view/me") in misp.requests
    assert ("GET", "/api/v1/user/current") in hive.requests


def test_a_broken_answer_is_a_short_delivery_error(misp_server, thehive_server, tmp_path):
    key_file = secret_file(tmp_path / "misp.key", MISP_KEY)
    env = {"HIVE_KEY": HIVE_KEY}
    misp = misp_server(statuses=[(200, b"<html>maintenance</html>")])
    hive = thehive_server(statuses=[(200, b'[{"no": "id"}]'), (200, b"<html>")])
    channels = parse_channels({
        "m": {"type": "misp", "url": misp.url, "key_file": str(key_file)},
        "h": {"type": "thehive", "url": hive.url, "key_env": "HIVE_KEY"}})
    with pytest.raises(DeliveryError, match=r"^MISP answered in an unknown shape$"):
        send(channels["m"], update("k", "resolved", "new"), env)
    for _ in range(2):  # a listing without ids, then no JSON at all
        with pytest.raises(DeliveryError, match=r"^TheHive answered in an unknown shape$"):
            send(channels["h"], update("k", "resolved", "new"), env)
