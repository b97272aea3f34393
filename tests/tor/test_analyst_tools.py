"""Issue 14's whole path at once: a daemon crawls an onion paste site through the private
Tor network; the alert it raises for a new paste reaches, in the same delivery pass, a
MISP-shaped, a TheHive-shaped, a Splunk-HEC-shaped and a Slack-shaped receiver and a
syslog listener, each payload valid for its receiver (the receivers check what the real
services check) and free of plaintext. Then the analyst acknowledges the alert from the
CLI and the state change goes back out to the channels that take updates; the MISP and
STIX exports of the same alert load in pymisp and pass the STIX validator; the weekly
report shows the alert as handled."""

from __future__ import annotations

import json
import signal
import subprocess
from datetime import UTC, datetime

import pymisp
import pytest
import stix2validator

from tests.privacy import assert_no_plaintext, everything_written
from tests.support.formats_receiver import (  # noqa: F401 - fixture
    HEC_TOKEN,
    Slack,
    SplunkHEC,
    SyslogListener,
    formats_receivers_fixture,
    slack_texts,
)
from tests.support.intel_receiver import (  # noqa: F401 - fixtures
    HIVE_KEY,
    MISP_KEY,
    misp_server_fixture,
    thehive_server_fixture,
)
from tests.support.processes import reaped
from tests.support.receivers import secret_file
from tests.tor.crawling import Cast, add_source, prepare, stored
from tests.tor.test_monitoring import wait_for
from vahti.demo.sites.content import plant_paste_texts
from vahti.demo.sites.paste import PasteSite
from vahti.scheduler.channels.misp_event import alert_uuid

pytestmark = pytest.mark.integration


def channels_toml(misp, hive, splunk, slack, syslog, tmp_path) -> str:
    misp_key = secret_file(tmp_path / "misp.key", MISP_KEY)
    hec_token = secret_file(tmp_path / "hec.token", HEC_TOKEN)
    slack_url = secret_file(tmp_path / "slack.url", slack.url)  # a Slack URL is a secret
    return f"""
[channels.misp]
type = "misp"
url = "{misp.url}"
key_file = "{misp_key}"
kinds = ["sighting"]

[channels.hive]
type = "thehive"
url = "{hive.url}"
key_env = "HIVE_KEY"
organisation = "soc"
kinds = ["sighting"]

[channels.splunk]
type = "webhook"
format = "splunk_hec"
url = "{splunk.url}"
auth_file = "{hec_token}"
index = "vahti"

[channels.slack]
type = "webhook"
format = "slack"
url_file = "{slack_url}"

[channels.siem]
type = "syslog"
host = "127.0.0.1"
port = {syslog.port}
transport = "tcp"
"""


def run_json(vahti, *args: str) -> object:
    result = vahti.run(*args, "--json")
    assert result.returncode == 0, (args, result.stdout, result.stderr[-2000:])
    return json.loads(result.stdout)


def test_one_crawled_alert_reaches_misp_thehive_splunk_slack_and_syslog(
        vahti, tor_network, onion_for, misp_server, thehive_server, formats_receivers,
        tmp_path):
    cast = Cast.make(seed=1402)
    exposed = cast.enrolled[5]
    leak = plant_paste_texts([exposed], cast.decoys[:2], cast.rng, texts=1)[0]
    misp, hive = misp_server(), thehive_server()
    splunk, slack = formats_receivers(SplunkHEC), formats_receivers(Slack)
    syslog = formats_receivers(SyslogListener, "tcp")
    with PasteSite(seed=1402) as site:
        site.add_paste(leak.text)
        url = onion_for(site) + "/"
        prepare(vahti, tor_network, cast, tmp_path)
        with open(vahti.home / "config.toml", "a") as fh:
            fh.write(channels_toml(misp, hive, splunk, slack, syslog, tmp_path))
        add_source(vahti, "pastes", "paste_listing", url, "--schedule", "every 10s")
        vahti.env.update({"HIVE_KEY": HIVE_KEY, "VAHTI_DAEMON_DELIVER_EVERY_S": "2"})
        with (open(tmp_path / "daemon.log", "w") as log,
              reaped(vahti.popen("daemon", stdout=log, stderr=subprocess.STDOUT)) as daemon):
            wait_for("the alert in every channel", lambda: (
                misp.events and hive.alerts and splunk.received and slack.received
                and syslog.received), 150)
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(60) == 0

    # one alert, each receiver got it once and refused nothing
    alerts = run_json(vahti, "alerts", "list")
    assert [a["kind"] for a in alerts] == ["sighting"] and alerts[0]["state"] == "new"
    key = alerts[0]["alert_key"]
    for name, receiver in (("misp", misp), ("thehive", hive), ("splunk", splunk),
                           ("slack", slack), ("syslog", syslog)):
        assert receiver.rejected == [], (name, receiver.rejected)
    assert list(misp.events) == [str(alert_uuid(key))]
    event = misp.event(str(alert_uuid(key)))  # loaded by pymisp's own MISPEvent
    assert "tlp:amber" in {t.name for t in event.tags}
    assert [a["sourceRef"] for a in hive.alerts.values()] == [key]
    assert [e["event"]["alert_key"] for e in splunk.received] == [key]
    assert splunk.received[0]["event"]["refs"] == [exposed.ref]
    assert len(slack.received) == 1 and any(key in t for t in slack_texts(slack.received[0]))
    assert len(syslog.received) == 1
    assert [r["route"] for r in misp.received].count("events/add") == 1

    # triage from the CLI: the state change reaches the channels that take updates
    acked = run_json(vahti, "alerts", "ack", key[:10], "--comment", "escalated to DPO",
                     "--by", "soc-night")
    assert acked["state"] == "acknowledged" and acked["updates_queued"] == 5
    delivered = run_json(vahti, "alerts", "deliver")
    assert delivered["dead"] == 0 and delivered["sent"] == 5, delivered
    assert 'workflow:state="incomplete"' in misp.tags_of(str(alert_uuid(key)))
    hive_alert = next(iter(hive.alerts.values()))
    assert "vahti:state=acknowledged" in hive_alert["tags"]
    updates = [e["event"] for e in splunk.received if e["event"]["type"] == "alert_update"]
    assert [(u["alert_key"], u["state"], u["previous_state"]) for u in updates] == [
        (key, "acknowledged", "new")]
    assert len(slack.received) == 2 and len(syslog.wait(2)) == 2
    listed = run_json(vahti, "alerts", "list")
    assert listed[0]["state"] == "acknowledged" and listed[0]["state_by"] == "soc-night"

    # the offline exports of the same alert
    misp_file, stix_file = tmp_path / "out" / "misp.json", tmp_path / "out" / "stix.json"
    misp_file.parent.mkdir()
    for fmt, path in (("misp", misp_file), ("stix", stix_file)):
        result = vahti.run("export", fmt, "--since", "1d", "--out", str(path))
        assert result.returncode == 0, result.stderr
    exported = json.loads(misp_file.read_text())["response"]
    assert len(exported) == 1
    offline = pymisp.MISPEvent()
    offline.load(exported[0])
    assert offline.uuid == str(alert_uuid(key))
    validation = stix2validator.validate_file(str(stix_file))
    assert validation.is_valid, [str(e) for r in validation.object_results for e in r.errors]

    # the weekly report shows the alert acknowledged
    week = datetime.now(UTC).strftime("%G-W%V")
    report_file = tmp_path / "out" / "weekly.json"
    result = vahti.run("report", "weekly", "--week", week, "--format", "json",
                       "--out", str(report_file))
    assert result.returncode == 0, result.stderr[-2000:]
    triage = json.loads(report_file.read_text())["triage"]
    assert triage["states"]["acknowledged"] == 1 and triage["acknowledged"] == 1, triage

    written = everything_written(vahti, tmp_path / "dump", extra=[
        ("misp", json.dumps([r["body"] for r in misp.received])),
        ("thehive", json.dumps([r["body"] for r in hive.received])),
        ("splunk", json.dumps(splunk.received)), ("slack", json.dumps(slack.received)),
        ("syslog", json.dumps(syslog.received, default=str)),
        ("misp export", misp_file.read_bytes()), ("stix export", stix_file.read_bytes()),
        ("weekly report", report_file.read_bytes()),
        ("daemon log", (tmp_path / "daemon.log").read_bytes())])
    assert_no_plaintext(written, cast.plaintext() + [MISP_KEY, HIVE_KEY, HEC_TOKEN])
    assert stored(vahti, "runs", {"source": "pastes", "state": "done"})

