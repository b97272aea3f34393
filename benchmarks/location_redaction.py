"""Cost of redacting a location: the baseline redactor (identity codes and e-mail
addresses by shape) beside the one that also tokenises enrolled phones and names
(`LocationRedactor(key, index)`, matchers.locations_enrolled), per location, uncached
(`_redact`: every URL of a crawl is new), medians of `--runs` runs over `--urls`
distinct locations of each kind:

- a typical paste URL (an 8-character alphanumeric id), the hot path of a crawl;
- a URL with a 10-digit numeric id that is nobody's phone;
- a file path holding an enrolled phone, and one holding an enrolled full name;
- a file path holding an identity code (both redactors tokenise it).

The watchlist is `--people` synthetic people (a phone and a name each), keyed as
`vahti enroll` keys them. Also printed: building the redactor and its first name
lookup (the name keys are gathered then).

    python benchmarks/location_redaction.py [--people 40000] [--urls 3000] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vahti.demo import synthetic  # noqa: E402
from vahti.matchers.detectors import name as name_detector  # noqa: E402
from vahti.matchers.digest import digest_many  # noqa: E402
from vahti.matchers.index import IndexBuilder  # noqa: E402
from vahti.matchers.keys import Key  # noqa: E402
from vahti.matchers.locations import LocationRedactor  # noqa: E402


def build_index(key: Key, people: list[synthetic.Person]):
    phones = digest_many(key, "phone", [synthetic.e164_fi(p.phone) for p in people])
    forms = [name_detector.enrollment_forms(p.full_name) for p in people]
    names = iter(digest_many(key, "name", [f for fs in forms for f in fs]))
    b = IndexBuilder(key)
    for p, phone, fs in zip(people, phones, forms, strict=True):
        b.add(p.ref, {"phone": [bytes(phone)]}, {"name": [bytes(next(names)) for _ in fs]})
    return b.build()


def locations(kind: str, n: int, rng: random.Random, people: list[synthetic.Person]) -> list[str]:
    alnum = string.ascii_letters + string.digits
    make = {
        "typical paste URL":
            lambda i: f"https://paste.example.onion/raw/{''.join(rng.choices(alnum, k=8))}",
        "10-digit numeric id":
            lambda i: f"https://paste.example.onion/view/{rng.randrange(10**9, 10**10)}",
        "enrolled phone in a path":
            lambda i: f"file:///leak/{i}/{rng.choice(people).phone.replace(' ', '_')}.txt",
        "enrolled name in a path":
            lambda i: f"file:///leak/{i}/{rng.choice(people).full_name.replace(' ', '_')}.txt",
        "identity code in a path": lambda i: f"file:///leak/{i}/{rng.choice(people).hetu}.txt",
    }[kind]
    return [make(i) for i in range(n)]


KINDS = ("typical paste URL", "10-digit numeric id", "enrolled phone in a path",
         "enrolled name in a path", "identity code in a path")


def per_location(redactor: LocationRedactor, urls: list[str], runs: int) -> float:
    """Median over runs of the mean time per location, in µs (uncached)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for url in urls:
            redactor._redact(url)
        times.append((time.perf_counter() - t0) / len(urls) * 1e6)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=40_000)
    ap.add_argument("--urls", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args()
    key = Key(bytes(range(32)))
    people = synthetic.make_people(args.people, seed=args.seed)
    t0 = time.perf_counter()
    index = build_index(key, people)
    print(f"{args.people} people keyed and indexed in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    enrolled = LocationRedactor(key, index)
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    enrolled._redact("file:///leak/first_look.txt")
    first = time.perf_counter() - t0
    print(f"redactor with the index built in {built * 1e3:.2f} ms; "
          f"first name lookup (gathers the name keys) {first * 1e3:.1f} ms")
    baseline = LocationRedactor(key)
    rng = random.Random(args.seed)
    print(f"{'location (uncached, median of runs)':36} {'baseline µs':>12} {'enrolled µs':>12}")
    for kind in KINDS:
        urls = locations(kind, args.urls, rng, people)
        b = per_location(baseline, urls, args.runs)
        e = per_location(enrolled, urls, args.runs)
        print(f"{kind:36} {b:12.1f} {e:12.1f}")
    print("checks:", "ok" if all(
        enrolled.redact(u) != u for u in locations("enrolled name in a path", 50, rng, people))
        and all(enrolled.redact(u) != u for u in locations("enrolled phone in a path", 50, rng,
                                                            people)) else "MISSED")


if __name__ == "__main__":
    main()
