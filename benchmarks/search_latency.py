"""`vahti search` latency with 1,000,000 sightings and 10,000,000 retained candidate keys.

Target (incident issue): p99 < 100 ms per identifier, in-process query time
(parsing, keying, the watchlist index, sightings, the candidate index, page
lookups), reported beside the whole command's time (a fresh process: Python
start-up, opening the embedded database, loading the indexes).

The database is the embedded default (SecantusDB) in a home of its own, filled
the fast way (bulk inserts, indexes built afterwards) with: `--people`
enrolled people (a HETU and an e-mail each), `--sightings` sightings of them
on 200,000 pages, and `--candidates` retained keys in page-content documents
(100 keys each), among them the HETUs of half the enrolled people and of as
many never-enrolled people. Queries mix enrolled-and-sighted, never-enrolled-
but-retained, and unseen identifiers.

Baseline, same run: the same single-identifier question answered without the
local candidate index, by reading the retained documents from the database
(what a search would cost if the keys were only in MongoDB blobs).

    .venv/bin/python -m benchmarks.search_latency [--home DIR] [--sightings N]
        [--candidates N] [--people N] [--queries N]

With `--home DIR` the filled database is kept and reused by the next run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from bson import ObjectId
from bson.binary import Binary

from vahti.demo.synthetic import make_hetu
from vahti.matchers.digest import digest_many, to_u64
from vahti.matchers.keys import Key, load_key_file
from vahti.search import parse_lines, search
from vahti.storage import candidate_index, schema, watchlist
from vahti.storage.connection import Storage, StorageSettings, open_storage
from vahti.storage.watchlist import WatchlistEntry
from vahti.watchlist_cache import load_index

REPO = Path(__file__).resolve().parent.parent
PAGES = 200_000
KEYS_PER_DOC = 100


def hetus(n: int, offset: int) -> list[str]:
    """n distinct valid HETUs (synthetic: individual numbers in the test range 900-999
    are never issued, so none of these is a real person's)."""
    out = []
    base = datetime(1950, 1, 1)
    for i in range(offset, offset + n):
        day = base + timedelta(days=i // 100)
        out.append(make_hetu(day.date(), 900 + i % 100))
    return out


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def fill(st: Storage, key: Key, people: int, n_sightings: int, n_candidates: int) -> None:
    rng = np.random.default_rng(7)
    now = datetime.now(UTC)
    enrolled = hetus(people, 0)
    strangers = hetus(people // 2, people)
    print(f"filling: {people} people, {n_sightings} sightings, {n_candidates} candidate keys",
          flush=True)
    t0 = time.perf_counter()
    digests = digest_many(key, "hetu", enrolled)
    emails = digest_many(key, "email", [f"person{i}@example.invalid" for i in range(people)])
    watchlist.upsert_entries(st, (
        WatchlistEntry(ref=f"P{i:07d}", key_id=key.key_id,
                       digests={"hetu": [bytes(digests[i])], "email": [bytes(emails[i])]})
        for i in range(people)))
    print(f"  watchlist {time.perf_counter() - t0:.0f} s", flush=True)

    # collections filled without their secondary indexes, which are built afterwards:
    # about 8x faster here than inserting into indexed collections
    t0 = time.perf_counter()
    for name in (schema.SIGHTINGS, schema.PAGES, schema.CANDIDATES):
        st.db[name].drop_indexes()
    content_ids = [f"{i:032x}" for i in range(PAGES)]  # keyed ids in real use
    for lo in range(0, PAGES, 10_000):
        st.db[schema.PAGES].insert_many([
            {"url": f"http://leak{i % 50}.onion/p/{i}", "source": f"source{i % 12}",
             "content_id": content_ids[i], "size": 4096, "status": "ok",
             "first_seen": now - timedelta(minutes=i), "last_seen": now}
            for i in range(lo, min(PAGES, lo + 10_000))], ordered=False)
    for lo in range(0, n_sightings, 10_000):
        st.db[schema.SIGHTINGS].insert_many([
            {"page_url": f"http://leak{(i // 5) % 50}.onion/p/{(i // 5) % PAGES}",
             "ref": f"P{i % people:07d}", "id_type": "hetu", "start": i, "end": i + 11,
             "source": f"source{i % 12}", "kind": "identifier", "score": 0.8,
             "first_seen": now - timedelta(seconds=i), "last_seen": now, "alerted": True,
             "page_content_id": content_ids[(i // 5) % PAGES]}
            for i in range(lo, min(n_sightings, lo + 10_000))], ordered=False)
    print(f"  pages + sightings {time.perf_counter() - t0:.0f} s", flush=True)

    t0 = time.perf_counter()
    known = np.concatenate([to_u64(digests[: people // 2]),
                            to_u64(digest_many(key, "hetu", strangers))])
    n_docs = n_candidates // KEYS_PER_DOC
    slots = rng.choice(n_docs, size=len(known), replace=False) if len(known) <= n_docs else None
    planted = dict(zip(slots.tolist(), known.tolist(), strict=True)) if slots is not None else {}
    batch = []
    for d in range(n_docs):
        keys = rng.integers(0, 2**63, KEYS_PER_DOC, dtype=np.uint64) * np.uint64(2)
        if d in planted:
            keys[0] = planted[d]
        # as if written over the past weeks, within retention (the candidate index
        # reads the documents of the last minutes from the database at each use)
        written = now - timedelta(days=30) + timedelta(seconds=10 * d)
        oid = ObjectId(int(written.timestamp()).to_bytes(4, "big") + d.to_bytes(8, "big"))
        batch.append({"_id": oid, "content_id": content_ids[d % PAGES], "t": "hetu",
                      "n": KEYS_PER_DOC,
                      "keys": Binary(np.sort(keys).astype("<u8").tobytes()), "partial": False,
                      "seen_at": written})
        if len(batch) == 5000:
            st.db[schema.CANDIDATES].insert_many(batch, ordered=False)
            batch = []
    if batch:
        st.db[schema.CANDIDATES].insert_many(batch, ordered=False)
    print(f"  candidates {time.perf_counter() - t0:.0f} s", flush=True)

    t0 = time.perf_counter()
    for spec in schema.COLLECTIONS:
        if spec.indexes:
            st.db[spec.name].create_indexes(list(spec.indexes))
    st.db[schema.META].update_one({"_id": schema.META_ID},
                                  {"$set": {"bench_filled": [people, n_sightings, n_candidates]}})
    print(f"  indexes {time.perf_counter() - t0:.0f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", type=Path)
    ap.add_argument("--people", type=int, default=100_000)
    ap.add_argument("--sightings", type=int, default=1_000_000)
    ap.add_argument("--candidates", type=int, default=10_000_000)
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="vahti-search-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    # the embedded server takes about a minute to open a 2 GB database again
    env = {**os.environ, "VAHTI_HOME": str(home), "VAHTI_STORAGE_EMBEDDED_START_TIMEOUT_S": "600"}
    subprocess.run([sys.executable, "-m", "vahti", "init"], env=env, check=True,
                   capture_output=True, cwd=REPO)
    key = load_key_file(home / "key")
    st = open_storage(StorageSettings(home=home, embedded_start_timeout_s=600))
    try:
        wanted = [args.people, args.sightings, args.candidates]
        if st.meta().get("bench_filled") != wanted:
            st.bind_key(key.key_id)
            fill(st, key, *wanted)
        run(st, key, home, env, args)
    finally:
        st.close()
    print(f"home: {home}")


def run(st: Storage, key: Key, home: Path, env: dict, args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    index = load_index(st, key, home)
    t_index = time.perf_counter() - t0
    t0 = time.perf_counter()
    cand = candidate_index.load(st, home)
    t_cand = time.perf_counter() - t0
    counts = st.counts()
    print(f"database: {counts.get('sightings')} sightings, {cand.n_keys} retained keys in "
          f"{counts.get('candidates')} documents, {counts.get('watchlist')} people")
    print(f"indexes ready: watchlist {t_index:.2f} s, candidate index {t_cand:.2f} s "
          "(first use builds them; later commands memory-map them)")

    rng = random.Random(3)
    people = args.people
    pool = (hetus(people // 2, 0)  # enrolled, sighted, retained
            + hetus(people // 2, people)  # never enrolled, retained
            + hetus(people // 2, 2 * people))  # nowhere

    def one_query(values: list[str]) -> tuple[float, int]:
        started = time.perf_counter()
        # the live candidate index load is part of every search (freshness check)
        live = candidate_index.load(st, home)
        queries, _ = parse_lines(values, key)
        answers = search(st, index, live, queries)
        return time.perf_counter() - started, sum(a.seen for a in answers)

    one_query(rng.sample(pool, 5))  # warm-up
    single, seen = [], 0
    for _ in range(args.queries):
        seconds, hit = one_query([rng.choice(pool)])
        single.append(seconds * 1000)
        seen += hit
    batch = [one_query(rng.sample(pool, 1000))[0] * 1000 for _ in range(15)]

    # baseline: one identifier without the local index, reading the retained blobs
    target = to_u64(digest_many(key, "hetu", [pool[0]]))[0]
    base = []
    for _ in range(3):
        started = time.perf_counter()
        found = 0
        for d in st.db[schema.CANDIDATES].find({}, {"keys": 1}).batch_size(2000):
            arr = np.frombuffer(d["keys"], dtype="<u8")
            i = np.searchsorted(arr, target)
            found += bool(i < len(arr) and arr[i] == target)
        base.append((time.perf_counter() - started) * 1000)

    # whole command: a fresh process each time
    cmd = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, 1000):
            path = Path(tmp) / f"ids{n}.txt"
            path.write_text("\n".join(rng.sample(pool, n)) + "\n")
            walls, inner = [], []
            for _ in range(5):
                started = time.perf_counter()
                r = subprocess.run([sys.executable, "-m", "vahti", "search", "--json",
                                    "--file", str(path)], env=env, capture_output=True,
                                   text=True, cwd=REPO)
                walls.append((time.perf_counter() - started) * 1000)
                assert r.returncode in (0, 1), r.stderr[-2000:]
                inner.append(json.loads(r.stdout)["query_ms"])
            cmd[n] = (statistics.median(walls), statistics.median(inner))

    p50, p99 = statistics.median(single), percentile(single, 99)
    b50, b99 = statistics.median(batch), percentile(batch, 99)
    print(f"\none identifier, in process ({args.queries} queries, {seen} seen): "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms  (target p99 < 100 ms)")
    print(f"1,000 identifiers at once, in process (15 runs): p50 {b50:.0f} ms, "
          f"p99 {b99:.0f} ms = {b99 / 1000:.2f} ms per identifier")
    print(f"whole command (fresh process, median of 5): 1 identifier {cmd[1][0]:.0f} ms "
          f"(query {cmd[1][1]:.1f} ms); 1,000 identifiers {cmd[1000][0]:.0f} ms "
          f"(query {cmd[1000][1]:.0f} ms)")
    print(f"baseline, one identifier without the local candidate index (median of 3): "
          f"{statistics.median(base):.0f} ms -> {statistics.median(base) / p50:.0f}x the p50")


if __name__ == "__main__":
    main()
