"""Crawl throughput: pages per second through the private Tor network, against
the same site fetched directly on loopback, in the same run.

Brings up the test suite's private Tor network (3 authorities, 3 relays, an
onion host, a client; loopback only), a paste site with `--pastes` pastes
(~2 KB each, some with enrolled people) behind an onion service, and an
embedded database. For each concurrency (1, 8, 32) and each route (Tor onion,
direct loopback), a fresh database is crawled from scratch with `vahti crawl`
(the listing, then every raw paste); pages/s is counted from the run record
(first to last page, so process start-up is left out). Each is repeated
`--runs` times; medians and the tor/direct ratio are printed.

Must run inside a network namespace with nothing but loopback:

    tests/tor/run_in_netns.sh .venv/bin/python -m benchmarks.crawl_throughput [--pastes 300]
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
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vahti.demo.guard import assert_loopback_only  # noqa: E402
from vahti.demo.sites.content import plant_paste_texts  # noqa: E402
from vahti.demo.sites.paste import PasteSite  # noqa: E402
from vahti.demo.synthetic import make_people, register_csv  # noqa: E402
from vahti.demo.tornet import PrivateTorNetwork  # noqa: E402
from vahti.storage.connection import StorageSettings, open_storage  # noqa: E402
from vahti.storage.embedded import EmbeddedServer  # noqa: E402

CONCURRENCY = (1, 8, 32)


def vahti(env: dict, *args: str) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "vahti", *args], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=1800)
    if out.returncode not in (0, 1):
        raise SystemExit(f"vahti {' '.join(args)} failed: {out.stderr[-2000:]}")
    return out


def pages_per_second(uri: str, database: str, run_id: str) -> tuple[float, int]:
    storage = open_storage(StorageSettings(home=Path("/tmp"), uri=uri, database=database))
    try:
        pages = list(storage.db["pages"].find({}, {"first_seen": 1}))
        run = storage.db["runs"].find_one({"run_id": run_id})
    finally:
        storage.close()
    times = sorted(p["first_seen"] for p in pages)
    assert run is not None and len(times) > 1
    span = (times[-1] - times[0]).total_seconds()
    return (len(pages) - 1) / span, len(pages)


def crawl_once(base_env: dict, uri: str, register: Path, url: str, direct: bool,
               concurrency: int, tmp: Path, pastes: int) -> float:
    database = "bench_" + uuid.uuid4().hex[:10]
    home = tmp / database
    env = {**base_env, "VAHTI_HOME": str(home), "VAHTI_MONGO_URI": uri,
           "VAHTI_MONGO_DB": database}
    vahti(env, "init")
    vahti(env, "enroll", str(register))
    pages = -(-pastes // 20)
    vahti(env, "sources", "add", "bench", "--kind", "paste_listing", "--url", url,
          "--concurrency", str(concurrency), "--option", f"listing_pages={pages}",
          *(["--direct"] if direct else []))
    summary = json.loads(vahti(env, "crawl", "bench", "--json").stdout.splitlines()[-1])
    if summary["new_items"] != pastes:
        raise SystemExit(f"crawl fetched {summary['new_items']} of {pastes} pastes: {summary}")
    rate, _ = pages_per_second(uri, database, summary["run_id"])
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pastes", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    assert_loopback_only()
    people = make_people(400, seed=77)
    texts = plant_paste_texts(people[:150], make_people(50, seed=78), random.Random(7),
                              texts=args.pastes)
    with tempfile.TemporaryDirectory(prefix="vahti-crawl-bench-") as tmp_name:
        tmp = Path(tmp_name)
        register = tmp / "register.csv"
        register.write_text(register_csv(people[:300]))
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("VAHTI_")}
        base_env["PYTHONPATH"] = str(REPO)
        server = EmbeddedServer(tmp / "db")
        db_uri = server.client_uri()
        network = PrivateTorNetwork(tmp / "tor")
        try:
            with PasteSite(seed=7) as site:
                for item in texts:
                    site.add_paste(item.text)
                onion = network.add_onion_service("bench", site.port)
                t0 = time.monotonic()
                network.start()
                print(f"private Tor network ready in {time.monotonic() - t0:.1f} s; "
                      f"{args.pastes} pastes, {args.runs} runs each")
                base_env["VAHTI_TOR_SOCKS"] = f"127.0.0.1:{network.socks_port}"
                base_env["VAHTI_TOR_CONTROL"] = f"127.0.0.1:{network.control_port}"
                routes = {"tor": f"http://{onion}/", "direct": site.url("/")}
                results: dict[tuple[str, int], list[float]] = {}
                for _ in range(args.runs):
                    for c in CONCURRENCY:
                        for route, url in routes.items():
                            rate = crawl_once(base_env, db_uri, register, url,
                                              route == "direct", c, tmp, args.pastes)
                            results.setdefault((route, c), []).append(rate)
        finally:
            network.stop()
            server.release()
    print(f"{'concurrency':>11} {'tor pages/s':>12} {'direct pages/s':>15} {'tor/direct':>11}")
    for c in CONCURRENCY:
        tor = statistics.median(results[("tor", c)])
        direct = statistics.median(results[("direct", c)])
        print(f"{c:>11} {tor:>12.1f} {direct:>15.1f} {tor / direct:>11.2f}")
    print("(medians; pages = listing pages + raw pastes, each scanned and stored)")


if __name__ == "__main__":
    main()
