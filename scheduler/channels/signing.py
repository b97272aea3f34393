"""Webhook signatures: vahti's own header and the Standard Webhooks scheme.

- `X-Vahti-Signature: sha256=<hex HMAC-SHA256(secret, body)>`: kept as it was, for the
  receivers that check it. It signs the body only, so a captured delivery can be
  posted again later and still verifies.
- Standard Webhooks (https://www.standardwebhooks.com, spec 1.0): `webhook-id`,
  `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature:
  v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>`. The timestamp is
  signed, so a receiver that refuses one outside a tolerance (`verify_standard`,
  5 minutes by default as in the spec's libraries) refuses a replay; the id stays the
  same on every retry, so it also drops repeats. The key: a secret written as
  `whsec_<base64>` (the spec's form, what its libraries expect) is that base64 decoded;
  any other secret is used as its UTF-8 bytes (as for X-Vahti-Signature).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Vahti-Signature"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
TOLERANCE_S = 300
_PLAIN_ID = re.compile(r"[A-Za-z0-9_:-]{1,200}")


class WebhookVerificationError(ValueError):
    """A delivery that must not be trusted; the text says why (never a secret)."""


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_"):], validate=True)
        except binascii.Error:
            raise WebhookVerificationError("a whsec_ secret must be base64") from None
    return secret.encode("utf-8")


def signature(secret: str | bytes, body: bytes) -> str:
    """The X-Vahti-Signature value (the raw secret's bytes, as before)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(secret: str | bytes, body: bytes, header: str) -> bool:
    """For receivers (and tests): a constant-time check of X-Vahti-Signature."""
    return hmac.compare_digest(signature(secret, body), header or "")


def message_id(idempotency_key: str) -> str:
    """The webhook-id: the idempotency key, or a digest of it when it holds a character
    the signed content's "." separator or a header could be confused by."""
    if _PLAIN_ID.fullmatch(idempotency_key):
        return idempotency_key
    return "msg_" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]


def standard_signature(secret: str | bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256)
                                    .digest()).decode("ascii")


def signature_headers(secret: str | bytes, idempotency_key: str, body: bytes,
                      now: float | None = None) -> dict[str, str]:
    """Both schemes' headers for one attempt (a retry gets a new timestamp)."""
    msg_id = message_id(idempotency_key)
    timestamp = int(time.time() if now is None else now)
    return {SIGNATURE_HEADER: signature(secret, body), ID_HEADER: msg_id,
            TIMESTAMP_HEADER: str(timestamp),
            STANDARD_SIGNATURE_HEADER: standard_signature(secret, msg_id, timestamp, body)}


def verify_standard(secret: str | bytes, headers: Mapping[str, str], body: bytes, *,
                    tolerance_s: float = TOLERANCE_S, now: float | None = None) -> str:
    """Check a Standard Webhooks delivery; returns its webhook-id (store it to drop
    repeats) or raises WebhookVerificationError. `headers`: any mapping; names are
    matched without regard to case. `body`: the raw bytes received, not re-serialised."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get(ID_HEADER, "")
    stamp = lower.get(TIMESTAMP_HEADER, "")
    signatures = lower.get(STANDARD_SIGNATURE_HEADER, "")
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or "
                                       "webhook-signature")
    if not stamp.isdigit():
        raise WebhookVerificationError("webhook-timestamp is not Unix seconds")
    now = time.time() if now is None else now
    if abs(now - int(stamp)) > tolerance_s:
        raise WebhookVerificationError(
            f"webhook-timestamp is more than {tolerance_s:g} s from now (a replay?)")
    expected = standard_signature(secret, msg_id, int(stamp), body)
    # space-delimited: during a secret rotation both keys sign
    if not any(hmac.compare_digest(expected, given) for given in signatures.split()):
        raise WebhookVerificationError("no webhook-signature matches")
    return msg_id
