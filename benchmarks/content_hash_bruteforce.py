"""How fast a plain SHA-256 of a small content gives its identity code back, and why a
keyed content id does not.

The attack (issue 12): a page or file holds one Finnish identity code in a template
the attacker knows (a file holding just the code, a "No results for <code>" search
page). Schema 1 stored its plain SHA-256 beside the sighting, so hashing every
plausible code through the template finds the one whose hash is stored. This script
brute-forces a sample range of codes (every individual number for a run of birth
dates) against such a hash on this machine, prints codes/s per core, and extrapolates
to the full space of codes of people born 1900-2025 (~4.1*10^7; ~10^8 with the
century signs introduced in 2023) on all cores. A GPU computes ~10^10 SHA-256/s, so
the same search there takes milliseconds.

The keyed case: a content id is HMAC-SHA256 under a subkey of the 256-bit secret key,
over the SHA-256 of the bytes. Without the key a guessed content cannot be checked
against a stored id at all; recovering the key from known (content, id) pairs is a
search of 2^256 keys. Nothing to measure: the script prints the bound.

Usage: python benchmarks/content_hash_bruteforce.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import multiprocessing as mp
import os
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vahti.matchers.contentid import ContentIds  # noqa: E402
from vahti.matchers.keys import Key  # noqa: E402

CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
TEMPLATE = ("<!DOCTYPE html>\n<html><head><title>Haku</title></head>\n"
            "<body><p>No results for {code}</p></body></html>\n")
FIRST, LAST = dt.date(1900, 1, 1), dt.date(2025, 12, 31)
INDIVIDUAL = range(2, 900)  # 002-899 (900-999 are temporary numbers)
EXTENDED_SPACE = 1e8  # with the extra century signs (Y X W V U / B C D E F) since 2023


def code(day: dt.date, n: int) -> str:
    sign = "-" if day.year < 2000 else "A"
    base = f"{day:%d%m%y}{n:03d}"
    return f"{day:%d%m%y}{sign}{n:03d}{CHECK[int(base) % 31]}"


def days(start: dt.date, count: int) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(count)]


NUMBERS = [b"%03d" % n for n in INDIVIDUAL]
CHECK_BYTES = [c.encode() for c in CHECK]


def search(args: tuple[list[dt.date], bytes, bytes, bytes]) -> tuple[int, str]:
    """Every code of these birth dates through the template; (tried, code found or "")."""
    dates, prefix, suffix, target = args
    sha256 = hashlib.sha256
    tried, found = 0, ""
    for day in dates:
        date = f"{day:%d%m%y}"
        head = prefix + date.encode() + (b"-" if day.year < 2000 else b"A")
        base = int(date) * 1000
        for n, number in zip(INDIVIDUAL, NUMBERS, strict=True):
            if sha256(head + number + CHECK_BYTES[(base + n) % 31] + suffix).digest() == target:
                found = code(day, n)
        tried += len(NUMBERS)
    return tried, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="rough time to spend")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    space = (LAST - FIRST).days * len(INDIVIDUAL)
    prefix, suffix = (s.encode() for s in TEMPLATE.split("{code}"))

    # calibrate on one core, then search a sample range on all cores
    t0 = time.perf_counter()
    tried, _ = search((days(dt.date(1970, 1, 1), 5), prefix, suffix, b""))
    per_core = tried / (time.perf_counter() - t0)
    n_days = max(cores, int(per_core * cores * args.seconds / len(INDIVIDUAL)))
    sample = days(dt.date(1975, 1, 1), n_days)
    secret_code = code(sample[secrets.randbelow(len(sample))], secrets.choice(INDIVIDUAL))
    page = TEMPLATE.format(code=secret_code).encode()
    stored = hashlib.sha256(page).digest()  # what schema 1 kept beside the sighting
    chunks = [(sample[i::cores], prefix, suffix, stored) for i in range(cores)]
    t0 = time.perf_counter()
    with mp.Pool(cores) as pool:
        results = pool.map(search, chunks)
    elapsed = time.perf_counter() - t0
    total = sum(r[0] for r in results)
    found = next((r[1] for r in results if r[1]), "")
    rate = total / elapsed

    print(f"templated page of {len(page)} bytes holding one identity code")
    print(f"plain SHA-256 (schema 1): {per_core:,.0f} codes/s on one core, "
          f"{rate:,.0f} codes/s on {cores} cores")
    print(f"  sample: {total:,} codes ({n_days} birth dates) in {elapsed:.2f} s: "
          f"code {'recovered' if found == secret_code else 'NOT found'}")
    print(f"  whole space 1900-2025 ({space:.2e} codes): {space / rate:,.0f} s on {cores} cores; "
          f"~1e8 with the new century signs: {EXTENDED_SPACE / rate:,.0f} s "
          f"({EXTENDED_SPACE / rate / 60:.1f} min); at 1e10/s on a GPU: "
          f"{EXTENDED_SPACE / 1e10 * 1000:.0f} ms")

    ids = ContentIds(Key(secrets.token_bytes(32)))
    t0 = time.perf_counter()
    for _ in range(100_000):
        ids.of_digest(stored)
    keyed_us = (time.perf_counter() - t0) / 100_000 * 1e6
    print(f"keyed content id (schema 2): {keyed_us:.2f} us per content to compute with the key; "
          "without the key a guess cannot be checked at all")
    years = 2.0**256 / 1e18 / 3.15e7
    print(f"  recovering the 256-bit key from known (content, id) pairs: 2^256 HMACs; at "
          f"1e18 HMAC/s (far beyond any machine): {years:.1e} years")


if __name__ == "__main__":
    main()
