"""How often does a valid identifier of one type also read as another type?

Random valid values of every identifier type (synthetic, generated here), each
in its usual written forms (`matchers.readings.written_forms`), read by every
detector as `vahti search` reads a line. Prints, per type, the share of values
with at least one reading as each other type: the ambiguous pairs a search
must look up as every reading, and `vahti forget` must remove under every key.

    python -m benchmarks.ambiguous_readings [--n 2000] [--region FI]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from collections import Counter
from collections.abc import Callable

from stdnum import luhn
from stdnum.no import fodselsnummer as no_fnr

from vahti.matchers.detectors import get_detector
from vahti.matchers.detectors.hetu import CHECK_CHARS
from vahti.matchers.readings import other_readings, readers

# customer id patterns a clinic might configure: one numeric, one with letters
PATTERNS = {"digits": r"\d{10}", "letters": r"[A-Z]{2}\d{8}"}


def _date(rng: random.Random, first: int = 1925, last: int = 2020) -> dt.date:
    start = dt.date(first, 1, 1).toordinal()
    return dt.date.fromordinal(rng.randint(start, dt.date(last, 12, 31).toordinal()))


def hetu(rng: random.Random) -> str:
    d = _date(rng)
    sign = {18: "+", 19: rng.choice("-YXWVU"), 20: rng.choice("ABCDEF")}[d.year // 100]
    n = rng.randint(2, 899)
    date = d.strftime("%d%m%y")
    return f"{date}{sign}{n:03d}{CHECK_CHARS[int(f'{date}{n:03d}') % 31]}"


def cpr(rng: random.Random) -> str:
    return _date(rng).strftime("%d%m%y") + f"{rng.randint(0, 9999):04d}"


def personnummer(rng: random.Random) -> str:
    body = _date(rng).strftime("%y%m%d") + f"{rng.randint(0, 999):03d}"
    return body + luhn.calc_check_digit(body)


def fodselsnummer(rng: random.Random) -> str:
    body = _date(rng).strftime("%d%m%y") + f"{rng.randint(0, 499):03d}"
    body += no_fnr.calc_check_digit1(body)
    return body + no_fnr.calc_check_digit2(body)


def phone(rng: random.Random) -> str:
    prefix = rng.choice(["040", "041", "044", "045", "046", "050"])
    return prefix + "".join(rng.choice("0123456789") for _ in range(7))


def email(rng: random.Random) -> str:
    return f"user{rng.randint(0, 10**6)}@example.fi"


def customer_digits(rng: random.Random) -> str:
    return f"{rng.randint(0, 10**10 - 1):010d}"


GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "hetu": hetu, "cpr": cpr, "personnummer": personnummer, "fodselsnummer": fodselsnummer,
    "phone": phone, "email": email, "customer_id": customer_digits,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="values per type")
    parser.add_argument("--region", default="FI")
    args = parser.parse_args()
    rng = random.Random(12)
    for label, pattern in PATTERNS.items():
        detectors = readers(args.region, pattern)
        print(f"customer_id pattern {label} ({pattern}), phone region {args.region}, "
              f"{args.n} valid values per type")
        for id_type, make in GENERATORS.items():
            own = get_detector(id_type, region=args.region, customer_id_pattern=pattern)
            hits: Counter[str] = Counter()
            valid = 0
            started = time.perf_counter()
            while valid < args.n:
                try:
                    canonical = own.canonical(make(rng))
                except Exception:  # noqa: BLE001 - an invalid draw: draw again
                    continue
                valid += 1
                hits.update(set(other_readings(id_type, canonical, detectors, args.region)))
            us = (time.perf_counter() - started) / valid * 1e6
            shares = ", ".join(f"{t} {n / valid:.1%}" for t, n in hits.most_common()) or "none"
            print(f"  {id_type:<14} also reads as: {shares}  ({us:.0f} us per value)")


if __name__ == "__main__":
    main()
