"""Delivery channels: one small module per type; `send` picks the module.

A sender either returns (delivered) or raises `DeliveryError` with a short
reason that holds no payload and no secret; the outbox retries it.
"""

from __future__ import annotations

from collections.abc import Mapping

from vahti.scheduler.channels.config import ChannelConfig, ChannelConfigError
from vahti.scheduler.channels.errors import DeliveryError
from vahti.scheduler.channels.message import Message


def send(channel: ChannelConfig, message: Message,
         environ: Mapping[str, str] | None = None) -> None:
    from vahti.scheduler.channels import misp, smtp, stdout, syslog, thehive, webhook

    senders = {"webhook": webhook.send, "email": smtp.send, "stdout": stdout.send,
               "syslog": syslog.send, "misp": misp.send, "thehive": thehive.send}  # issue 14
    try:
        senders[channel.type](channel, message, environ)
    except ChannelConfigError as exc:  # a secret missing: retried, it may be fixed
        raise DeliveryError(str(exc)) from None


__all__ = ["ChannelConfig", "ChannelConfigError", "DeliveryError", "Message", "send"]
