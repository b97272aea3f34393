"""A webhook delivered through a SOCKS5 proxy (`proxy = "socks5h://..."`): a real
loopback SOCKS5 server forwards to a real loopback HTTP receiver. requests needs PySocks
(`requests[socks]`) for this; without it the delivery failed with InvalidSchema after
the channel had passed validation."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.fake_socks import FakeSocks
from tests.support.receivers import HOOK_SECRET
from vahti.scheduler.channels import webhook as webhook_channel
from vahti.scheduler.channels.config import parse_channel
from vahti.scheduler.channels.message import sample_message

RECEIVER_NAME = "hooks.receiver.test"  # known only to the proxy: nothing resolves it here


def test_webhook_through_socks5h_proxy_reaches_the_receiver(webhook):
    hook = webhook()
    port = int(hook.url.split(":")[2].split("/")[0])
    with FakeSocks({RECEIVER_NAME: port}) as proxy:
        channel = parse_channel("hook", {
            "type": "webhook", "url": f"http://{RECEIVER_NAME}:{port}/hooks/vahti",
            "secret_env": "HOOK_SECRET", "proxy": f"socks5h://127.0.0.1:{proxy.port}"})
        message = sample_message("hook", datetime.now(UTC), "idem-socks-1")
        webhook_channel.send(channel, message, {"HOOK_SECRET": HOOK_SECRET})
    assert [r.host for r in proxy.requests] == [RECEIVER_NAME]  # the proxy resolved it
    assert proxy.requests[0].atyp == 3  # sent as a name: socks5h
    (received,) = hook.ok()
    assert received["path"] == "/hooks/vahti"
    assert webhook_channel.verify(HOOK_SECRET, received["body"],
                                  received["headers"]["X-Vahti-Signature"])
