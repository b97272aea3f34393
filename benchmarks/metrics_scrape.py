"""Cost of a scrape of the daemon's /metrics on a database with realistic counts.

The database figures (`scheduler.metrics.StoredFigures`) are recomputed at most every
`[metrics] cache_s` (5 s); this measures one uncached refresh (the job leases and the
undelivered outbox rows; each source's runs are read once, when first seen: that
first refresh is timed separately)
on the embedded default database filled with `--sources` sources of `--runs` crawl
runs each, `--pages` pages, `--sightings` sightings, `--alerts` alerts with an outbox
row for each of two channels, and a whole HTTP scrape of the endpoint (cached and
uncached).

Baseline, same run: the same refresh on an empty database (the fixed cost).

    .venv/bin/python -m benchmarks.metrics_scrape [--sources 10] [--runs 2000]
        [--pages 10000] [--sightings 1000] [--alerts 1000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vahti.config import load_config
from vahti.scheduler.metrics import DaemonMetrics, MetricsSettings, StoredFigures
from vahti.spiders.sources import Source, edit_sources
from vahti.storage import schema
from vahti.storage.connection import Storage, StorageSettings, open_storage


def fill(st: Storage, sources: list[str], runs: int, pages: int, sightings: int,
         alerts: int) -> None:
    now = datetime.now(UTC)
    states = ["done"] * 8 + ["failed", "killed"]
    st.db[schema.RUNS].insert_many([
        {"run_id": f"{name}-{i}", "source": name, "kind": "crawl",
         "started": now - timedelta(hours=i), "finished": now - timedelta(hours=i, minutes=-5),
         "state": states[i % len(states)], "pages": 40, "bytes": 400_000, "pipeline_s": 0.4}
        for name in sources for i in range(runs)])
    st.db[schema.PAGES].insert_many([
        {"url": f"http://x.onion/raw/{i:08x}", "source": sources[i % len(sources)],
         "last_seen": now, "content_id": f"c{i}"} for i in range(pages)])
    st.db[schema.SIGHTINGS].insert_many([
        {"page_url": f"http://x.onion/raw/{i % pages:08x}", "ref": f"P{i}", "id_type": "hetu",
         "start": i, "first_seen": now, "source": sources[i % len(sources)]}
        for i in range(sightings)])
    st.db[schema.ALERTS].insert_many([
        {"alert_key": f"a{i}", "kind": "sighting", "created": now} for i in range(alerts)])
    st.db[schema.OUTBOX].insert_many([
        {"delivery_key": f"a{i}:{ch}", "alert_key": f"a{i}", "channel": ch,
         "state": "sent" if ch == "siem" or i % 3 else "pending", "next_attempt": now}
        for i in range(alerts) for ch in ("siem", "hook")])


def refresh_times(figures: StoredFigures, repeat: int) -> list[float]:
    """The first refresh (which seeds each source's times from its runs) is left out."""
    figures._database()
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        families = figures._database()
        out.append(time.perf_counter() - started)
        assert any(f.name == "vahti_database_up" and f.samples[0].value == 1 for f in families)
    return out


def http_times(port: int, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
            r.read()
        out.append(time.perf_counter() - started)
    return out


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sources", type=int, default=10)
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--pages", type=int, default=10_000)
    ap.add_argument("--sightings", type=int, default=1000)
    ap.add_argument("--alerts", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir(mode=0o700)
        names = [f"source-{i}" for i in range(args.sources)]
        with edit_sources(home / "sources.toml") as sources:
            for name in names:
                sources[name] = Source(name=name, kind="url", urls=("http://x.onion/",),
                                       schedule="every 1h")
        cfg = load_config(home_flag=str(home))
        st = open_storage(StorageSettings(home=home))
        try:
            empty = refresh_times(StoredFigures(st, cfg, 0), args.repeat)
            fill(st, names, args.runs, args.pages, args.sightings, args.alerts)
            fresh = StoredFigures(st, cfg, 0)
            started = time.perf_counter()
            fresh._database()
            seeding = [time.perf_counter() - started]
            full = refresh_times(StoredFigures(st, cfg, 0), args.repeat)
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            metrics = DaemonMetrics(st, cfg, cache_s=5.0)
            metrics.serve(MetricsSettings("127.0.0.1", port, 5.0))
            try:
                first = http_times(port, 1)
                cached = http_times(port, args.repeat)
            finally:
                metrics.close()
            uncached_metrics = DaemonMetrics(st, cfg, cache_s=0.0)
            port2 = port + 1
            uncached_metrics.serve(MetricsSettings("127.0.0.1", port2, 0.0))
            try:
                uncached = http_times(port2, args.repeat)
            finally:
                uncached_metrics.close()
        finally:
            st.close()
    print(f"database: {args.sources} sources x {args.runs} runs, {args.pages} pages, "
          f"{args.sightings} sightings, {args.alerts} alerts x 2 channels (embedded)")
    print(f"refresh of the database figures, median of {args.repeat}: {ms(full)} "
          f"(baseline, empty database: {ms(empty)}; ratio "
          f"{statistics.median(full) / statistics.median(empty):.1f}x)")
    print(f"first refresh of a daemon (reads every run of each source once): {ms(seeding)}")
    print(f"HTTP scrape, uncached (cache_s = 0): {ms(uncached)}; first scrape with the cache "
          f"(includes tor's status): {ms(first)}; cached: {ms(cached)}")


if __name__ == "__main__":
    main()
