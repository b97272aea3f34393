"""A vahti process for tests: opens storage the way every command does, then
either holds it until stdin closes (`hold`) or writes sightings in acknowledged
batches forever (`write`), printing progress a line at a time."""

from __future__ import annotations

import json
import sys

from vahti.config import load_config
from vahti.storage.sightings import Sighting, record_sightings
from vahti.wiring import open_db


def main() -> None:
    mode = sys.argv[1]
    cfg = load_config()
    storage = open_db(cfg)
    state = storage._server.state if storage._server else None
    print(json.dumps({"ready": True, "socket": state.socket if state else None,
                      "pid": state.pid if state else None}), flush=True)
    if mode == "hold":
        sys.stdin.read()
    elif mode == "write":
        done = 0
        batch = 0
        while True:
            items = [
                Sighting(page_url=f"https://paste.test/{batch}", source="test", ref=f"R{i}",
                         id_type="hetu", kind="identifier", start=i * 20, end=i * 20 + 11,
                         score=1.0)
                for i in range(50)
            ]
            done += len(record_sightings(storage, items))
            batch += 1
            # printed only after the server acknowledged the write
            print(json.dumps({"acked": done}), flush=True)
    storage.close()


if __name__ == "__main__":
    main()
