"""Scheduled monitoring end to end, through the private Tor network: a daemon
crawls an onion paste site every 10 s; when a paste with an enrolled person
appears, the webhook gets exactly one signed alert and the SMTP server exactly
one e-mail, neither holding any plaintext; SIGTERM stops the daemon cleanly."""

from __future__ import annotations

import email
import email.policy
import json
import signal
import subprocess
import time

import pytest

from tests.privacy import assert_no_plaintext, everything_written
from tests.support.processes import reaped
from tests.support.receivers import (
    HOOK_SECRET,
    SMTP_PASSWORD,
    SMTP_USER,
    mail_channel,
    secret_file,
)
from tests.tor.crawling import Cast, add_source, prepare, resolved_names, stored
from vahti.demo.sites.content import plant_paste_texts
from vahti.demo.sites.paste import PasteSite
from vahti.scheduler.channels.webhook import verify

pytestmark = pytest.mark.integration


def wait_for(what: str, check, timeout: float):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_new_paste_alerts_once_per_channel_with_nothing_plaintext(
        vahti, tor_network, onion_for, webhook, smtp_server, tmp_path):
    cast = Cast.make(seed=1101)
    quiet = plant_paste_texts([], cast.decoys, cast.rng, texts=2)  # nobody enrolled in them
    exposed = cast.enrolled[3]
    leak = plant_paste_texts([exposed], cast.decoys[:2], cast.rng, texts=1)[0]
    hook = webhook()
    port, cert, mailbox = smtp_server
    password_file = secret_file(tmp_path / "smtp.pw", SMTP_PASSWORD)
    with PasteSite(seed=1101) as site:
        for item in quiet:
            site.add_paste(item.text)
        url = onion_for(site) + "/"
        prepare(vahti, tor_network, cast, tmp_path)
        with open(vahti.home / "config.toml", "a") as fh:
            fh.write(f"""
[channels.soc]
type = "webhook"
url = "{hook.url}"
secret_env = "HOOK_SECRET"
""" + mail_channel(port, cert, f'password_file = "{password_file}"'))
        add_source(vahti, "pastes", "paste_listing", url, "--schedule", "every 10s")
        vahti.env.update({"HOOK_SECRET": HOOK_SECRET, "SMTP_USER": SMTP_USER,
                          "VAHTI_DAEMON_DELIVER_EVERY_S": "2"})
        with (open(tmp_path / "daemon.log", "w") as log,
              reaped(vahti.popen("daemon", stdout=log, stderr=subprocess.STDOUT)) as daemon):
            wait_for("a first crawl", lambda: stored(
                vahti, "runs", {"source": "pastes", "state": "done"}), 90)
            assert hook.requests == [] and mailbox.messages == []  # nobody of ours yet
            site.add_paste(leak.text)
            wait_for("the webhook alert", hook.ok, 90)
            wait_for("the e-mail", lambda: mailbox.messages, 60)
            time.sleep(25)  # two more crawl cycles: nothing new, nothing repeated
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(60) == 0

    assert len(hook.requests) == 1 and len(mailbox.messages) == 1
    request = hook.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert verify(HOOK_SECRET, request["body"], headers["x-vahti-signature"])
    payload = json.loads(request["body"])
    assert payload["kind"] == "sighting" and payload["refs"] == [exposed.ref]
    assert payload["source"] == "pastes" and payload["url"].startswith(url + "raw/")
    mail = email.message_from_bytes(mailbox.messages[0]["data"], policy=email.policy.default)
    assert exposed.ref in mail.get_content()
    runs = stored(vahti, "runs", {"source": "pastes"})
    assert len([r for r in runs if r.get("state") == "done"]) >= 3
    assert resolved_names(vahti) <= {"127.0.0.1", "localhost"}
    written = everything_written(vahti, tmp_path / "dump", extra=[
        ("webhook body", request["body"]), ("e-mail", mailbox.messages[0]["data"]),
        ("daemon log", (tmp_path / "daemon.log").read_bytes())])
    assert_no_plaintext(written, cast.plaintext() + [SMTP_PASSWORD, HOOK_SECRET])
