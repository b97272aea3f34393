"""A STIX 2.1 bundle of sighting alerts, for `vahti export stix` (the stix2 library).

The model (STIX 2.1, section 5.2 Sighting): per alert
- an `indicator` of the exposure: pattern `[url:value = '<page URL>']` (identifiers in the
  URL already tokenised), indicator_types ["compromised"];
- a `url` SCO (its id is the spec's deterministic uuid5 of its value) and an
  `observed-data` referencing it (first/last observed, number_observed 1);
- a `sighting` with sighting_of_ref = the indicator, observed_data_refs = the observed
  data, where_sighted_refs = vahti's `identity`, the counts in its description.
Every object is created_by vahti's identity and marked with a TLP marking definition.
Ids are derived from the alert key (stable_v4), `created`/`modified` are the alert's times, so a
re-export of the same alerts is the same bundle. Refs are never exported (pseudonymous,
but the controller's own business); health alerts are not exposures and are left out.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from vahti.scheduler.channels.misp_event import VAHTI_NAMESPACE, alert_uuid, when

TLP_NAMES = ("clear", "white", "green", "amber", "red")
# printable ASCII that may stand in a URI (RFC 3986 reserved and unreserved, and "%")
URI_SAFE = "".join(c for c in map(chr, range(33, 127)) if c not in '\\"<>^`{|}')


def stable_v4(namespace: uuid.UUID, name: str) -> uuid.UUID:
    """A deterministic UUID with version 4 bits: STIX 2.1 says SDO and SRO ids SHOULD be
    UUIDv4 (the validator warns otherwise), and a re-export must give the same ids. The
    122 free bits come from uuid5(namespace, name), as random-looking as a v4's."""
    return uuid.UUID(bytes=uuid.uuid5(namespace, name).bytes, version=4)


def _id(kind: str, alert_key: str) -> str:
    return f"{kind}--{stable_v4(alert_uuid(alert_key), kind)}"


def vahti_identity() -> Any:
    import stix2

    return stix2.v21.Identity(
        id=f"identity--{stable_v4(VAHTI_NAMESPACE, 'identity:vahti')}",
        name="vahti", identity_class="system",
        description="vahti leak monitor: sightings of a register's identifiers, reported "
                    "as counts and keyed ids only",
        created="2025-01-01T00:00:00.000Z", modified="2025-01-01T00:00:00.000Z")


def tlp_marking(tlp: str) -> Any:
    import stix2

    return {"clear": stix2.v21.TLP_WHITE, "white": stix2.v21.TLP_WHITE,
            "green": stix2.v21.TLP_GREEN, "amber": stix2.v21.TLP_AMBER,
            "red": stix2.v21.TLP_RED}[tlp]


def uri(url: str) -> str:
    """The URL as a valid URI (the url SCO's value must be one): characters a URI cannot
    hold (a space, a backslash, non-ASCII) percent-encoded, the rest left as it is."""
    return quote(url, safe=URI_SAFE)


def pattern_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sighting_objects(payload: dict[str, Any], identity: Any, marking: Any) -> list[Any]:
    import stix2

    key = payload["alert_key"]
    created = when(payload.get("created"))
    first = when(payload.get("first_seen")) or created
    common = {"created_by_ref": identity.id, "created": created, "modified": created,
              "object_marking_refs": [marking.id]}
    counts = payload.get("counts") or {}
    fragments = payload.get("fragment_scores") or []
    summary = (f"{int(payload.get('persons', 0))} persons of the register; identifier hits: "
               + (", ".join(f"{t} {int(n)}" for t, n in sorted(counts.items())) or "none")
               + f"; record fragments: {len(fragments)}; source: {payload.get('source', '')}; "
               f"vahti alert key {key}")
    url = stix2.v21.URL(value=uri(payload["url"]))
    indicator = stix2.v21.Indicator(
        id=_id("indicator", key), name="Page exposing identifiers of the register",
        description="The page URL (identifiers in it tokenised) where vahti saw "
                    "identifiers of the register.",
        indicator_types=["compromised"], pattern_type="stix",
        pattern=f"[url:value = {pattern_string(url.value)}]", valid_from=first, **common)
    observed = stix2.v21.ObservedData(
        id=_id("observed-data", key), first_observed=first, last_observed=created,
        number_observed=1, object_refs=[url.id], **common)
    sighting = stix2.v21.Sighting(
        id=_id("sighting", key), sighting_of_ref=indicator.id,
        observed_data_refs=[observed.id], where_sighted_refs=[identity.id],
        first_seen=first, last_seen=created, count=1, description=summary, **common)
    return [url, indicator, observed, sighting]


def build_bundle(payloads: list[dict[str, Any]], tlp: str = "amber") -> Any:
    """The bundle of these alert payloads' sightings (with a page URL)."""
    import stix2

    identity, marking = vahti_identity(), tlp_marking(tlp)
    objects: list[Any] = [identity, marking]
    keys = []
    for payload in payloads:
        if payload.get("kind") != "sighting" or not payload.get("url"):
            continue
        keys.append(payload["alert_key"])
        objects += sighting_objects(payload, identity, marking)
    bundle_id = stable_v4(VAHTI_NAMESPACE, "bundle:" + "\n".join(keys))
    return stix2.v21.Bundle(objects=objects, id=f"bundle--{bundle_id}")
