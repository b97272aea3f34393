"""syslog channel: RFC 5424 messages (vahti's fields as structured data) or ArcSight
CEF, over UDP (RFC 5426), TCP (RFC 6587 octet counting) or TLS (RFC 5425).

One message per alert; a digest is one message per alert it holds plus one for the
digest itself, since a SIEM correlates alerts, not digests. Severity: the channel's
`severity` for alerts and digests, `info` for tests and state updates. The local log
(logs.py, `[log] target = "syslog"`) is another thing: the stdlib's RFC 3164 handler
on /dev/log; what both share is the stdlib's table of facility and severity names.

Text a terminal would act on (escape sequences, bidi controls) is written as visible
escapes (display.clean), as on vahti's own terminal output: SIEM consoles and a
`tail -f` of a syslog file show these messages. Line breaks too, except in CEF
values, whose own `\n` escape keeps them.
"""

from __future__ import annotations

import logging.handlers
import os
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from vahti import __version__
from vahti.display import clean
from vahti.scheduler.channels.config import ChannelConfig, syslog_port
from vahti.scheduler.channels.errors import DeliveryError
from vahti.scheduler.channels.message import Message
from vahti.scheduler.channels.siem import payload_time
from vahti.scheduler.channels.summary import one_line, summarize

NAMES = logging.handlers.SysLogHandler
UDP_MAX = 65_000  # one datagram; a longer message needs tcp or tls
BOM = "\ufeff"
CEF_SEVERITY = {0: 10, 1: 10, 2: 10, 3: 8, 4: 6, 5: 4, 6: 3, 7: 1}  # syslog -> CEF 0..10


# --- RFC 5424 ----------------------------------------------------------------------------


def sd_escape(value: str) -> str:
    """SD-PARAM value escaping (RFC 5424 6.3.3): `"`, `\\` and `]` get a backslash."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def sd_name(name: str) -> str:
    """An SD-NAME: printable US-ASCII but `=`, space, `]`, `"`; at most 32."""
    return "".join(c if "!" <= c <= "~" and c not in '=]"' else "_" for c in name)[:32]


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(f"{v.get('ref')}:{v.get('score')}" if isinstance(v, dict) else str(v)
                        for v in value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def fields(payload: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """The payload flat: nested objects as `counts.hetu`, lists comma-joined."""
    for key, value in payload.items():
        if key == "alerts":
            continue  # a digest's alerts: messages of their own
        if isinstance(value, Mapping):
            yield from fields(value, f"{prefix}{key}.")
        else:
            yield sd_name(prefix + str(key)), clean(_text(value))


def _header(channel: ChannelConfig, severity: int, msgid: str, when: float) -> str:
    pri = NAMES.facility_names[channel.option("facility")] * 8 + severity
    stamp = datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")
    host = sd_name(socket.gethostname())[:255] or "-"
    return f"<{pri}>1 {stamp} {host} {channel.option('app_name')} {os.getpid()} {msgid}"


def rfc5424(channel: ChannelConfig, severity: int, msgid: str, payload: Mapping[str, Any],
            key: str) -> bytes:
    params = [*fields(payload), ("idempotency_key", key)]
    sd = "[" + channel.option("sd_id") + "".join(
        f' {name}="{sd_escape(value)}"' for name, value in params) + "]"
    text = clean(one_line(summarize(dict(payload))))
    return (f"{_header(channel, severity, msgid, payload_time(dict(payload)))} {sd} "
            f"{BOM}{text}").encode()


# --- CEF ---------------------------------------------------------------------------------


def cef_header_escape(value: str) -> str:
    """CEF header fields: `\\` and `|` escaped; no line breaks in a header."""
    return " ".join(value.replace("\\", "\\\\").replace("|", "\\|").splitlines())


def cef_value_escape(value: str) -> str:
    """CEF extension values: `\\` and `=` escaped, line breaks as \\n and \\r."""
    return (value.replace("\\", "\\\\").replace("=", "\\=")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r"))


def _ms(value: Any) -> str:
    try:
        return str(int(datetime.fromisoformat(str(value)).timestamp() * 1000))
    except ValueError:
        return ""


def cef_extension(payload: Mapping[str, Any], key: str) -> list[tuple[str, str]]:
    p = dict(payload)
    ext = [("rt", str(int(payload_time(p) * 1000))), ("externalId", _text(p.get("alert_key"))),
           ("cat", _text(p.get("kind") or p.get("type"))), ("msg", one_line(summarize(p)))]
    if p.get("url"):
        ext.append(("request", _text(p["url"])))
    if p.get("first_seen"):
        ext.append(("start", _ms(p["first_seen"])))
    if p.get("by"):
        ext.append(("suser", _text(p["by"])))
    # fixed numbers, so a SIEM's mapping of csN holds for every message
    custom = [("source", p.get("source")), ("page_content_id", p.get("page_content_id")),
              ("refs", p.get("refs")), ("state", p.get("state")),
              ("counts", ",".join(f"{k}:{v}" for k, v in sorted((p.get("counts") or {})
                                                                  .items())) or None),
              ("idempotency_key", key)]
    for n, (label, value) in enumerate(custom, start=1):
        if value not in (None, "", []):
            ext += [(f"cs{n}Label", label), (f"cs{n}", _text(value))]
    if "persons" in p:
        ext += [("cn1Label", "persons"), ("cn1", _text(p["persons"]))]
    return [(k, v) for k, v in ext if v != ""]


def cef(channel: ChannelConfig, severity: int, msgid: str, payload: Mapping[str, Any],
        key: str) -> bytes:
    p = dict(payload)
    head = "|".join(cef_header_escape(clean(x)) for x in (
        "vahti", "vahti", __version__, msgid, summarize(p).title))
    ext = " ".join(f"{k}={cef_value_escape(clean(v, one_line=False))}"
                   for k, v in cef_extension(p, key))
    line = f"CEF:0|{head}|{CEF_SEVERITY[severity]}|{ext}"
    return f"{_header(channel, severity, msgid, payload_time(p))} - {line}".encode()


# --- sending -----------------------------------------------------------------------------


def messages(channel: ChannelConfig, message: Message) -> list[bytes]:
    payload = message.payload
    build = cef if channel.option("format") == "cef" else rfc5424
    alert_severity = NAMES.priority_names[channel.option("severity")]
    if payload.get("type") == "alert":
        return [build(channel, alert_severity, str(payload.get("kind")), payload,
                      message.idempotency_key)]
    if payload.get("type") == "digest":
        out = [build(channel, alert_severity, str(a.get("kind")), a,
                     f"{message.idempotency_key}:{a.get('alert_key')}")
               for a in payload.get("alerts", [])]
        return [*out, build(channel, alert_severity, "digest", payload,
                            message.idempotency_key)]
    return [build(channel, NAMES.LOG_INFO, sd_name(str(payload.get("type"))), payload,
                  message.idempotency_key)]


def send(channel: ChannelConfig, message: Message,
         environ: Mapping[str, str] | None = None) -> None:
    data = messages(channel, message)
    host, port = channel.option("host"), syslog_port(channel)
    timeout = channel.option("timeout_s")
    try:
        if channel.option("transport") == "udp":
            _send_udp(host, port, data, timeout)
        else:
            _send_stream(channel, host, port, data, timeout)
    except TimeoutError:
        raise DeliveryError(f"no answer within {timeout:g} s") from None
    except ssl.SSLError:
        raise DeliveryError("TLS error (certificate not trusted?)") from None
    except OSError as exc:
        raise DeliveryError(f"connection failed ({type(exc).__name__})") from None


def _send_udp(host: str, port: int, data: list[bytes], timeout: float) -> None:
    if too_long := [len(d) for d in data if len(d) > UDP_MAX]:
        raise DeliveryError(f"a message of {too_long[0]} bytes is too long for udp: "
                            'use transport = "tcp" or "tls"')
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    with socket.socket(family, kind, proto) as sock:
        sock.settimeout(timeout)
        for datagram in data:
            sock.sendto(datagram, address)


def _send_stream(channel: ChannelConfig, host: str, port: int, data: list[bytes],
                 timeout: float) -> None:
    framed = b"".join(str(len(d)).encode() + b" " + d for d in data)  # RFC 6587 3.4.1
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as raw:
        if channel.option("transport") == "tls":
            context = ssl.create_default_context(cafile=channel.option("ca_file") or None)
            with context.wrap_socket(raw, server_hostname=host) as tls:
                tls.settimeout(max(deadline - time.monotonic(), 0.1))
                tls.sendall(framed)
        else:
            raw.sendall(framed)
