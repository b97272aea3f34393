"""Absurd registers are refused (or read) in milliseconds, not minutes.

Each case is read with `matchers.register.read_register`; the figure is the time
until the register was read or refused. Before the limits (1,000 columns, 1 MiB
per line) and the own delimiter sniffing, a 100,000-column header took minutes
(quadratic header handling) and quote-heavy text tens of seconds (csv.Sniffer).

    .venv/bin/python -m benchmarks.register_limits
"""

from __future__ import annotations

import time

from vahti.matchers.keys import Key
from vahti.matchers.register import RegisterError, RegisterSummary, read_register

CASES = {
    "100,000-column header": (",".join(["ref", "hetu"] + [f"c{i}" for i in range(100_000)])
                              + "\nA,131052-308T\n").encode(),
    "1.2 MB quote-heavy line": b'"a"b,' * 200_000,
    "64 KiB quote-heavy header and a row": b'"a"b,' * 13_000 + b"\nA,1\n",
    "30 MB data line among valid rows": (b"ref,hetu\nB,131052-308T" + b"y" * 30_000_000
                                         + b"\nC,010101A123N\n"),
}


def main() -> None:
    key = Key(bytes(32))
    for name, data in CASES.items():
        start = time.perf_counter()
        try:
            enrolled = sum(1 for _ in read_register(data, key, RegisterSummary()))
            outcome = f"read ({enrolled} enrolled)"
        except RegisterError:
            outcome = "refused"
        print(f"{name:38s} {outcome:18s} {time.perf_counter() - start:8.3f} s")


if __name__ == "__main__":
    main()
