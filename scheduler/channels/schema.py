"""The published JSON Schema of the alert payload (package data), and its $id.

Versioning: the $id ends in the schema's major version (`urn:vahti:schema:alert-payload:1`), the
`version` keyword holds major.minor. Within a major version every change is
additive: a new optional field or a new payload `type` is a minor version (the
schema file is updated, old payloads stay valid, receivers that allow unknown
fields need nothing). Removing or renaming a field, changing a field's type or
meaning, or making a field required is a new major version: a new file
(alert-payload.v2.schema.json) with a new $id, shipped beside the old one for at
least one release, and the `X-Vahti-Schema` header names the one a payload follows.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_FILE = "alert-payload.v1.schema.json"
SCHEMA_ID = "urn:vahti:schema:alert-payload:1"


@cache
def load_schema() -> dict[str, Any]:
    text = resources.files("vahti.scheduler.channels").joinpath(SCHEMA_FILE).read_text(
        encoding="utf-8")
    return json.loads(text)
