"""TheHive 5 channel (thehive4py 2.x): one TheHive alert per vahti alert.

`sourceRef` is the alert key, so TheHive itself refuses a repeat (type, source and
sourceRef are unique): its 400 "already exists" answer counts as delivered. A digest
creates each of its alerts that way; a test asks for the current user (the key works).

An alert_update finds the alert by sourceRef (POST /api/v1/query) and PATCHes its tags:
`vahti:state=<state>` added, the previous state's tag removed. Not `status`: TheHive 5.1+
lets each organisation define its own alert statuses, so a fixed status name may be
refused there, and a refused update would end dead; tags are accepted everywhere. The
triage comment is not sent (an operator's free text may hold anything).

The description is markdown built only from the payload's allowed fields, every value
from outside (source name, URL, problem text) escaped. thehive4py's own retries are off
(the outbox retries) and its requests get timeout_s; proxies from the environment are
ignored.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import requests

from vahti.scheduler.channels.config import ChannelConfig, read_secret
from vahti.scheduler.channels.errors import DeliveryError, connection_reason
from vahti.scheduler.channels.message import Message
from vahti.scheduler.channels.misp_event import SUBMISSION_TAG, detection_tags, when

SOURCE = "vahti"
TLP_NUMBERS = {"clear": 0, "white": 0, "green": 1, "amber": 2, "red": 3, "amber+strict": 4}
MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&])")


def send(channel: ChannelConfig, message: Message,
         environ: Mapping[str, str] | None = None) -> None:
    from thehive4py.errors import TheHiveError

    key = read_secret(channel, "key_env", "key_file", environ)
    payload = message.payload
    try:
        hive = _connect(channel, key)
        if payload["type"] == "test":
            hive.user.get_current()
        elif payload["type"] == "alert":
            _create(hive, build_alert(payload, channel))
        elif payload["type"] == "digest":
            for item in payload.get("alerts", []):
                _create(hive, build_alert(item, channel))
        elif payload["type"] == "alert_update":
            _update(hive, payload)
        else:
            raise DeliveryError(f"unknown payload type {payload['type']!r}")
    except TheHiveError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status is not None:
            raise DeliveryError(f"HTTP {status}") from None
        raise DeliveryError(_reason(channel, exc)) from None
    except requests.RequestException as exc:
        raise DeliveryError(_reason(channel, exc)) from None
    except (KeyError, TypeError, ValueError):  # not what TheHive answers (no JSON, no _id)
        raise DeliveryError("TheHive answered in an unknown shape") from None


def _connect(channel: ChannelConfig, key: str) -> Any:
    from thehive4py import TheHiveApi

    hive = TheHiveApi(url=channel.option("url"), apikey=key,
                      organisation=channel.option("organisation") or None,
                      verify=channel.option("ca_file") or True, max_retries=0)
    hive.session.trust_env = False
    # thehive4py sets no timeout: every request of this session gets timeout_s
    setattr(hive.session, "request", functools.partial(  # noqa: B010 - a method replaced
        hive.session.request, timeout=channel.option("timeout_s")))
    return hive


def _create(hive: Any, alert: dict[str, Any]) -> None:
    from thehive4py.errors import TheHiveError

    try:
        hive.alert.create(alert=alert)
    except TheHiveError as exc:
        if (exc.response is not None and exc.response.status_code == 400
                and "already exists" in str(exc.message).lower()):
            return  # TheHive has it: delivered before
        raise


def _update(hive: Any, payload: dict[str, Any]) -> None:
    from thehive4py.query.filters import Eq

    found = hive.alert.find(filters=Eq("sourceRef", payload["alert_key"]))
    if not isinstance(found, list):  # thehive4py returns the text of a non-JSON answer
        raise TypeError("not a list")
    if not found:
        raise DeliveryError("no TheHive alert with this sourceRef yet")
    fields: dict[str, Any] = {"addTags": [state_tag(payload["state"])]}
    previous = payload.get("previous_state")
    if previous and previous != payload["state"]:
        fields["removeTags"] = [state_tag(previous)]
    for alert in found:
        hive.alert.update(alert["_id"], fields=fields)


def state_tag(state: str) -> str:
    return f"vahti:state={state}"


def md(text: Any) -> str:
    """Text from outside as inert markdown: specials escaped, one line."""
    return MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def build_alert(payload: dict[str, Any], channel: ChannelConfig) -> dict[str, Any]:
    """The InputAlert of one alert payload (allowed fields only)."""
    kind = payload.get("kind")
    source = str(payload.get("source", ""))
    seen = when(payload.get("first_seen")) or when(payload.get("created"))
    alert: dict[str, Any] = {
        "type": f"vahti-{kind}", "source": SOURCE, "sourceRef": payload["alert_key"],
        "tlp": TLP_NUMBERS[channel.option("tlp")], "pap": TLP_NUMBERS[channel.option("pap")],
        "severity": channel.option("severity"),
        "tags": ["vahti", f"vahti:source={source}", SUBMISSION_TAG],
    }
    if seen:
        alert["date"] = int(seen.timestamp() * 1000)
    if kind == "health":
        alert["title"] = f"vahti health: {source}: {payload.get('problem', '')}"[:512]
        alert["description"] = (f"Source **{md(source)}** has a problem: "
                                 f"{md(payload.get('problem', ''))}\n\n"
                                 f"Since: {md(payload.get('since') or 'unknown')}\n")
        return alert
    counts = payload.get("counts") or {}
    fragments = payload.get("fragment_scores") or []
    alert["tags"] += detection_tags(payload)
    alert["title"] = (f"vahti sighting: {payload.get('persons', 0)} persons on a page of "
                      f"source {source}")[:512]
    lines = [f"Identifiers of the register seen on a page of source **{md(source)}**.", "",
             "| what | count |", "|---|---|",
             f"| persons | {int(payload.get('persons', 0))} |"]
    lines += [f"| identifier hits: {md(t)} | {int(n)} |" for t, n in sorted(counts.items())]
    lines += [f"| record fragments | {len(fragments)} |", "",
              f"First seen: {md(payload.get('first_seen', ''))}", "",
              "The page URL is an observable (identifiers in it tokenised). vahti sends no "
              "identifier, name or page text."]
    if channel.option("include_refs") and payload.get("refs"):
        lines += ["", "Refs (the controller's own references): "
                  + ", ".join(md(r) for r in payload["refs"])]
    alert["description"] = "\n".join(lines) + "\n"
    observables = []
    if payload.get("url"):
        observables.append({"dataType": "url", "data": payload["url"], "ioc": False,
                            "message": "page where identifiers were seen (tokenised URL)"})
    if payload.get("page_content_id"):
        observables.append({"dataType": "other", "data": payload["page_content_id"],
                            "ioc": False, "message": "keyed page content id"})
    if observables:
        alert["observables"] = observables
    return alert


def _reason(channel: ChannelConfig, exc: BaseException) -> str:
    return (connection_reason(exc, channel.option("timeout_s"))
            or f"TheHive request failed ({type(exc).__name__})")
