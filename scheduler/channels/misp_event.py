"""MISP events built from alert payloads: used by the `misp` channel and `vahti export misp`.

Built only from a payload's allowed fields (see message.py): the page URL (identifiers in it
already tokenised), the keyed page content id, counts, and the controller's refs only when
the operator allows it. Tags come from MISP's own taxonomies (misp-taxonomies: infoleak,
gdpr, tlp, workflow). Every UUID is a uuid5 of the alert key (or of the source name, for
one event per source), so a resend or a re-export names the same event and attributes and
MISP refuses a copy.

pymisp is imported inside the functions: `vahti --help` and the other channels stay fast.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pymisp import MISPEvent

# vahti's namespace for its uuid5 names (fixed: changing it renames every exported object)
VAHTI_NAMESPACE = uuid.UUID("5b0c4e2e-8f1a-5d7e-9a51-7a68746900a1")

# identifier types vahti matches -> the infoleak taxonomy's automatic-detection values
INFOLEAK_DETECTION = {"email": "mail", "phone": "phone-number", "card": "credit-card",
                     "credit_card": "credit-card", "iban": "credential"}
SUBMISSION_TAG = 'infoleak:submission="crawler"'
HEALTH_DATA_TAG = 'gdpr:special-categories="health"'
# triage state -> the taxonomy tags that record it (workflow and infoleak:confirmed)
STATE_TAGS: dict[str, tuple[str, ...]] = {
    "new": (),
    "acknowledged": ('workflow:state="incomplete"',),
    "resolved": ('workflow:state="complete"', 'infoleak:confirmed="true-positive"'),
    "false_positive": ('workflow:state="complete"', 'infoleak:confirmed="false-positive"'),
}


@dataclass(frozen=True)
class MispSettings:
    tlp: str = "amber"
    include_refs: bool = False
    event_per: str = "alert"
    distribution: int = 0
    threat_level: int = 2
    analysis: int = 0

    @classmethod
    def of_channel(cls, channel: Any) -> MispSettings:
        return cls(**{k: channel.option(k) for k in cls.__dataclass_fields__})


def alert_uuid(alert_key: str) -> uuid.UUID:
    return uuid.uuid5(VAHTI_NAMESPACE, "alert:" + alert_key)


def source_uuid(source: str) -> uuid.UUID:
    return uuid.uuid5(VAHTI_NAMESPACE, "misp-source-event:" + source)


def event_uuid(payload: dict[str, Any], settings: MispSettings) -> str:
    if settings.event_per == "source":
        return str(source_uuid(payload.get("source", "")))
    return str(alert_uuid(payload["alert_key"]))


def key_attribute_uuid(alert_key: str) -> str:
    """The attribute holding the alert key: where a per-source event records an alert
    (and where its triage state is tagged)."""
    return str(uuid.uuid5(alert_uuid(alert_key), "alert_key"))


def tlp_tag(tlp: str) -> str:
    return f"tlp:{tlp}"


def when(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def new_event(payload: dict[str, Any], settings: MispSettings) -> MISPEvent:
    """An empty event for this payload: one per alert, or the source's event."""
    from pymisp import MISPEvent

    event = MISPEvent()
    event.uuid = event_uuid(payload, settings)
    created = when(payload.get("first_seen")) or when(payload.get("created"))
    if settings.event_per == "source":
        event.info = f"vahti: sightings on source {payload.get('source', '')}"
    elif payload.get("kind") == "health":
        event.info = f"vahti health: {payload.get('source', '')}: {payload.get('problem', '')}"
    else:
        event.info = (f"vahti sighting: {payload.get('persons', 0)} persons on a page of "
                      f"source {payload.get('source', '')}")
    if created:
        event.set_date(created.date())
    event.distribution = settings.distribution
    event.threat_level_id = settings.threat_level
    event.analysis = settings.analysis
    event.add_tag(tlp_tag(settings.tlp))
    event.add_tag(SUBMISSION_TAG)
    return event


def event_for(payload: dict[str, Any], settings: MispSettings) -> MISPEvent:
    event = new_event(payload, settings)
    add_alert(event, payload, settings)
    return event


def has_alert(event: MISPEvent, alert_key: str) -> bool:
    wanted = key_attribute_uuid(alert_key)
    return any(a.uuid == wanted for a in event.attributes)


def add_alert(event: MISPEvent, payload: dict[str, Any], settings: MispSettings) -> None:
    """The alert's attributes (uuid5 of its key) and tags, added to `event`."""
    key = payload["alert_key"]
    prefix = f"alert {key}: " if settings.event_per == "source" else ""
    owner = alert_uuid(key)

    def attribute(name: str, category: str, kind: str, value: Any, comment: str) -> None:
        added = event.add_attribute(kind, value, category=category, to_ids=False,
                                    comment=prefix + comment, disable_correlation=kind != "url")
        attr = added[0] if isinstance(added, list) else added  # a list only for list values
        attr.uuid = str(uuid.uuid5(owner, name))

    attribute("alert_key", "Internal reference", "text", key, "vahti alert key")
    if payload.get("kind") == "health":
        attribute("problem", "Other", "text", str(payload.get("problem", "")),
                  "source health problem")
        return
    for tag in detection_tags(payload):
        if tag not in {t.name for t in event.tags}:
            event.add_tag(tag)
    if payload.get("url"):
        attribute("url", "External analysis", "url", payload["url"],
                  "page where identifiers were seen (identifiers in the URL tokenised)")
    if payload.get("page_content_id"):
        attribute("page_content_id", "Other", "text", payload["page_content_id"],
                  "keyed page content id (vahti's key: not a plain hash of the page)")
    attribute("persons", "Other", "counter", int(payload.get("persons", 0)), "persons")
    for id_type, count in sorted((payload.get("counts") or {}).items()):
        attribute(f"count:{id_type}", "Other", "counter", int(count),
                  f"identifier hits: {id_type}")
    fragments = payload.get("fragment_scores") or []
    if fragments:
        attribute("fragments", "Other", "counter", len(fragments), "record fragments")
    if settings.include_refs:
        for ref in payload.get("refs") or []:
            attribute(f"ref:{ref}", "Other", "text", ref, "the controller's own reference")


def detection_tags(payload: dict[str, Any]) -> list[str]:
    tags = sorted({f'infoleak:automatic-detection="{INFOLEAK_DETECTION[t]}"'
                   for t in payload.get("counts") or {} if t in INFOLEAK_DETECTION})
    if payload.get("fragment_scores"):
        tags.append(HEALTH_DATA_TAG)
    return tags


def export_events(payloads: list[dict[str, Any]], settings: MispSettings) -> list[MISPEvent]:
    """The events the channel would create for these alert payloads, in order."""
    events: dict[str, MISPEvent] = {}
    for payload in payloads:
        uid = event_uuid(payload, settings)
        if uid not in events:
            events[uid] = new_event(payload, settings)
        add_alert(events[uid], payload, settings)
    return list(events.values())
