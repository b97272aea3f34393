"""stdout channel: one JSON line per message, to stdout or appended to `path` (a SIEM's
file input). The file is created with mode 0600."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from vahti.scheduler.channels.config import ChannelConfig
from vahti.scheduler.channels.errors import DeliveryError
from vahti.scheduler.channels.message import Message, json_bytes


def line(message: Message) -> bytes:
    return json_bytes({**message.payload, "idempotency_key": message.idempotency_key}) + b"\n"


def send(channel: ChannelConfig, message: Message,
         environ: Mapping[str, str] | None = None) -> None:
    data = line(message)
    path = channel.option("path")
    if not path:
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"cannot write to stdout ({type(exc).__name__})") from None
        return
    target = Path(path).expanduser()
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)  # one write of one line: lines of parallel writers stay whole
        finally:
            os.close(fd)
    except OSError as exc:
        raise DeliveryError(f"cannot append to {target} ({exc.strerror})") from None
