"""The weekly report as JSON, described by `reports/weekly.schema.json` (draft 2020-12)."""

from __future__ import annotations

import json
from pathlib import Path

from vahti.display import json_visible
from vahti.reports.model import WeeklyReport

SCHEMA_PATH = Path(__file__).with_name("weekly.schema.json")


def render_json(report: WeeklyReport) -> str:
    # readable non-ASCII, but control and bidi characters as JSON escapes
    return json_visible(json.dumps(report.to_dict(), indent=2, ensure_ascii=False)) + "\n"


def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
