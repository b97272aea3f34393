"""Webhook channel: POST the JSON payload, signed with HMAC-SHA256.

Headers: `X-Vahti-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>` and
`X-Vahti-Idempotency-Key` (the same for every retry, so receivers can drop
repeats). Any 2xx is delivered; anything else, or no answer within timeout_s, fails.
Proxies and .netrc from the environment are ignored; set `proxy` explicitly.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

import requests
from vahti.scheduler.channels.config import ChannelConfig, read_secret
from vahti.scheduler.channels.errors import DeliveryError
from vahti.scheduler.channels.message import Message

SIGNATURE_HEADER = "X-Vahti-Signature"
IDEMPOTENCY_HEADER = "X-Vahti-Idempotency-Key"


def signature(secret: str | bytes, body: bytes) -> str:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(secret: str | bytes, body: bytes, header: str) -> bool:
    """For receivers (and tests): a constant-time check of the signature header."""
    return hmac.compare_digest(signature(secret, body), header or "")


def send(channel: ChannelConfig, message: Message,
         environ: Mapping[str, str] | None = None) -> None:
    secret = read_secret(channel, "secret_env", "secret_file", environ)
    body = message.body()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "vahti-alerts",
        SIGNATURE_HEADER: signature(secret, body),
        IDEMPOTENCY_HEADER: message.idempotency_key,
    }
    timeout = channel.option("timeout_s")
    with requests.Session() as session:
        session.trust_env = False
        if channel.option("proxy"):
            session.proxies = {"http": channel.option("proxy"), "https": channel.option("proxy")}
        try:
            response = session.post(
                channel.option("url"), data=body, headers=headers, timeout=timeout,
                allow_redirects=False, verify=channel.option("ca_file") or True,
            )
        except requests.Timeout:
            raise DeliveryError(f"no answer within {timeout:g} s") from None
        except requests.exceptions.SSLError:
            raise DeliveryError("TLS error (certificate not trusted?)") from None
        except requests.ConnectionError:
            raise DeliveryError("connection failed") from None
        except requests.RequestException as exc:
            raise DeliveryError(f"request failed ({type(exc).__name__})") from None
        status = response.status_code
        response.close()
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}")
