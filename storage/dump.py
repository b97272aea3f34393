"""`vahti db dump`: every collection as JSON lines, for audits and privacy tests."""

from __future__ import annotations

from pathlib import Path

from bson import json_util

from matchers.private import private_dir
from storage.connection import Storage


def dump_all(storage: Storage, out_dir: Path) -> dict[str, int]:
    """Write `<collection>.jsonl` per collection; returns documents written per collection."""
    private_dir(out_dir)
    written: dict[str, int] = {}
    options = json_util.JSONOptions(json_mode=json_util.JSONMode.RELAXED, tz_aware=True)
    for name in sorted(storage.db.list_collection_names()):
        count = 0
        with (out_dir / f"{name}.jsonl").open("w", encoding="utf-8") as fh:
            for doc in storage.db[name].find({}).sort("_id", 1):
                fh.write(json_util.dumps(doc, json_options=options, sort_keys=True) + "\n")
                count += 1
        written[name] = count
    return written
