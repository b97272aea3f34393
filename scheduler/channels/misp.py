"""MISP channel (pymisp): an event per alert, or the alert added to its source's event.

Repeats are dropped by UUID: the event (or, per source, the alert-key attribute) has a
uuid5 of the alert key, and an event that exists already counts as delivered. A digest
delivers each of its alerts that way. A test logs in and checks that the account may add
and tag events, creating nothing. An alert_update tags the alert's event (per source: its
alert-key attribute) with the taxonomy tags of the new state (misp_event.STATE_TAGS) and
removes those of the previous state; the triage comment is not sent (free text typed by
an operator may hold anything).

The API key is read when sending (key_env or key_file). pymisp's own log lines are held
back (they can quote a whole request); errors are one short DeliveryError.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests

from vahti.scheduler.channels.config import ChannelConfig, read_secret
from vahti.scheduler.channels.errors import DeliveryError, connection_reason
from vahti.scheduler.channels.message import Message
from vahti.scheduler.channels.misp_event import (
    STATE_TAGS,
    MispSettings,
    add_alert,
    alert_uuid,
    event_for,
    event_uuid,
    has_alert,
    key_attribute_uuid,
)

UNKNOWN_SHAPE = "MISP answered in an unknown shape"


def send(channel: ChannelConfig, message: Message,
         environ: Mapping[str, str] | None = None) -> None:
    key = read_secret(channel, "key_env", "key_file", environ)
    payload = message.payload
    settings = MispSettings.of_channel(channel)
    with _quiet_pymisp(), _short_errors(channel):
        misp = _connect(channel, key)
        if payload["type"] == "test":
            _check_account(misp)
        elif payload["type"] == "alert":
            _deliver(misp, payload, settings)
        elif payload["type"] == "digest":
            for item in payload.get("alerts", []):
                _deliver(misp, item, settings)
        elif payload["type"] == "alert_update":
            _update(misp, payload, settings)
        else:
            raise DeliveryError(f"unknown payload type {payload['type']!r}")


def _connect(channel: ChannelConfig, key: str) -> Any:
    from pymisp import PyMISP

    # logs in: getVersion, users/view/me, attributes/describeTypes.json
    return PyMISP(channel.option("url"), key, ssl=channel.option("ca_file") or True,
                  timeout=channel.option("timeout_s"), tool="vahti")


def _checked(response: Any, what: str) -> Any:
    """pymisp answers a 4xx with {"errors": (status, body)} instead of raising."""
    if isinstance(response, dict) and "errors" in response:
        errors = response["errors"]
        status = errors[0] if isinstance(errors, tuple | list) and errors else "error"
        raise DeliveryError(f"MISP refused {what} (HTTP {status})")
    return response


def _already_exists(response: Any) -> bool:
    return (isinstance(response, dict) and "errors" in response
            and "already exists" in str(response["errors"]).lower())


def _check_account(misp: Any) -> None:
    role = misp._current_role
    if not (role.get("perm_add") and role.get("perm_tagger")):
        raise DeliveryError("the MISP account may not add or tag events (its role)")


def _deliver(misp: Any, payload: dict[str, Any], settings: MispSettings) -> None:
    from pymisp import MISPEvent

    uid = event_uuid(payload, settings)
    if not misp.event_exists(uid):
        response = misp.add_event(event_for(payload, settings))
        if not _already_exists(response):  # two senders at once: the other one won
            _checked(response, "the event")
        return
    if settings.event_per == "alert":
        return  # delivered before
    event = _checked(misp.get_event(uid, pythonify=True), "reading the source's event")
    if not isinstance(event, MISPEvent):
        raise DeliveryError(UNKNOWN_SHAPE)
    if has_alert(event, payload["alert_key"]):
        return
    add_alert(event, payload, settings)
    _checked(misp.update_event(event), "the source's event update")


def _update(misp: Any, payload: dict[str, Any], settings: MispSettings) -> None:
    key = payload["alert_key"]
    if settings.event_per == "source":
        target, exists = key_attribute_uuid(key), misp.attribute_exists
    else:
        target, exists = str(alert_uuid(key)), misp.event_exists
    if not exists(target):
        raise DeliveryError("no MISP event for this alert yet")
    wanted = STATE_TAGS.get(payload["state"])
    if wanted is None:
        raise DeliveryError(f"unknown alert state {payload['state']!r}")
    for tag in STATE_TAGS.get(payload.get("previous_state", ""), ()):
        if tag not in wanted:
            misp.untag(target, tag)  # a tag not there (an earlier update lost): fine
    for tag in wanted:
        _checked(misp.tag(target, tag), "a tag")


@contextmanager
def _quiet_pymisp() -> Iterator[None]:
    log = logging.getLogger("pymisp")
    level = log.level
    log.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        log.setLevel(level)


@contextmanager
def _short_errors(channel: ChannelConfig) -> Iterator[None]:
    """Any failure as one short DeliveryError: no URL path, key or server text in it."""
    from pymisp.exceptions import PyMISPError

    try:
        yield
    except DeliveryError:
        raise
    except (requests.RequestException, PyMISPError) as exc:
        raise DeliveryError(_reason(channel, exc)) from None
    except (KeyError, TypeError, ValueError):  # JSON, but not what MISP answers
        raise DeliveryError(UNKNOWN_SHAPE) from None


def _reason(channel: ChannelConfig, exc: BaseException) -> str:
    from pymisp.exceptions import MISPServerError, NoKey, PyMISPUnexpectedResponse

    seen: BaseException | None = exc
    while seen is not None:  # PyMISP wraps the requests error it met while logging in
        if reason := connection_reason(seen, channel.option("timeout_s")):
            return reason
        if isinstance(seen, PyMISPUnexpectedResponse):  # not JSON
            return UNKNOWN_SHAPE
        if isinstance(seen, NoKey):
            return "the API key is empty"
        if isinstance(seen, MISPServerError):  # pymisp says "Error code 500" for any 5xx
            return "MISP server error (HTTP 5xx)"
        seen = seen.__cause__ or seen.__context__
    if "user settings" in str(exc) or "Unexpected error when initializing" in str(exc):
        return "MISP login refused (check the API key)"
    return f"MISP request failed ({type(exc).__name__})"
