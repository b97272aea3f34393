"""Webhook channel: POST the payload in the channel's `format`, signed, with an optional
auth header from a secret.

Formats (`format`): `vahti` (the JSON payload as it is, the default), `splunk_hec`,
`elastic` (siem.py), `slack` and `teams` (chat.py). Each decides its URL, its body
and what answer counts as delivered; the rest is common:
- `X-Vahti-Idempotency-Key` (the same for every retry, so receivers can drop repeats)
  and `X-Vahti-Schema` (the $id of the payload's JSON Schema);
- with a signing secret (required for `vahti`, optional otherwise): `X-Vahti-Signature`
  and the Standard Webhooks headers (signing.py);
- with `auth_env`/`auth_file`: `<auth_header>: <auth_scheme> <secret>` (Splunk's and
  Elastic's tokens); the URL itself may be a secret (`url_env`/`url_file`: Slack's and
  Teams' webhook URLs are).
No answer within timeout_s fails; proxies and .netrc from the environment are ignored
(set `proxy` explicitly); redirects are not followed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import requests
import urllib3

from vahti.scheduler.channels import chat, siem
from vahti.scheduler.channels.config import ChannelConfig, read_secret, webhook_url
from vahti.scheduler.channels.errors import DeliveryError, connection_reason
from vahti.scheduler.channels.message import Message
from vahti.scheduler.channels.schema import SCHEMA_ID
from vahti.scheduler.channels.signing import (  # noqa: F401 - re-exported for receivers
    SIGNATURE_HEADER,
    signature,
    signature_headers,
    verify,
    verify_standard,
)

IDEMPOTENCY_HEADER = "X-Vahti-Idempotency-Key"
SCHEMA_HEADER = "X-Vahti-Schema"
ANSWER_MAX = 64 * 1024  # what is read of an answer to check it


@dataclass(frozen=True)
class Format:
    """url(channel, configured url, message) -> where to POST; body(channel, message)
    -> bytes; check(status, answer) raises DeliveryError unless delivered."""

    url: Callable[[ChannelConfig, str, Message], str]
    body: Callable[[ChannelConfig, Message], bytes]
    check: Callable[[int, bytes], None]
    auth_scheme: str = ""  # the scheme when auth_scheme is not set


def _as_given(channel: ChannelConfig, url: str, message: Message) -> str:
    return url


def _vahti_body(channel: ChannelConfig, message: Message) -> bytes:
    return message.body()


def check_2xx(status: int, answer: bytes) -> None:
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}")


FORMATS = {
    "vahti": Format(_as_given, _vahti_body, check_2xx),
    "splunk_hec": Format(siem.hec_url, siem.hec_body, siem.hec_check, "Splunk"),
    "elastic": Format(siem.elastic_url, siem.elastic_body, siem.elastic_check, "ApiKey"),
    "slack": Format(_as_given, chat.slack_body, chat.slack_check),
    "teams": Format(_as_given, chat.teams_body, chat.teams_check),
}


def auth_header(channel: ChannelConfig, environ: Mapping[str, str] | None) -> dict[str, str]:
    if not (channel.option("auth_env") or channel.option("auth_file")):
        return {}
    token = read_secret(channel, "auth_env", "auth_file", environ)
    scheme = channel.option("auth_scheme") or FORMATS[channel.option("format")].auth_scheme
    return {channel.option("auth_header") or "Authorization":
            f"{scheme} {token}" if scheme else token}


def send(channel: ChannelConfig, message: Message,
         environ: Mapping[str, str] | None = None) -> None:
    fmt = FORMATS[channel.option("format")]
    body = fmt.body(channel, message)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "vahti-alerts",
        IDEMPOTENCY_HEADER: message.idempotency_key,
        SCHEMA_HEADER: SCHEMA_ID,
        **auth_header(channel, environ),
    }
    if channel.option("secret_env") or channel.option("secret_file"):
        secret = read_secret(channel, "secret_env", "secret_file", environ)
        headers.update(signature_headers(secret, message.idempotency_key, body))
    url = fmt.url(channel, webhook_url(channel, environ), message)
    status, answer = post(channel, url, body, headers)
    fmt.check(status, answer)


def post(channel: ChannelConfig, url: str, body: bytes,
         headers: dict[str, str]) -> tuple[int, bytes]:
    """(status, the first ANSWER_MAX bytes of the answer); errors say what failed, never
    the URL (it may be a secret)."""
    timeout = channel.option("timeout_s")
    with requests.Session() as session:
        session.trust_env = False
        if channel.option("proxy"):
            session.proxies = {"http": channel.option("proxy"), "https": channel.option("proxy")}
        try:
            response = session.post(
                url, data=body, headers=headers, timeout=timeout, stream=True,
                allow_redirects=False, verify=channel.option("ca_file") or True,
            )
            try:
                answer = response.raw.read(ANSWER_MAX, decode_content=True) or b""
            finally:
                response.close()
        except requests.RequestException as exc:
            reason = connection_reason(exc, timeout) or f"request failed ({type(exc).__name__})"
            raise DeliveryError(reason) from None
        except (OSError, urllib3.exceptions.HTTPError) as exc:  # reading the answer
            raise DeliveryError(f"reading the answer failed ({type(exc).__name__})") from None
    return response.status_code, answer
