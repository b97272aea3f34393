"""Fragment fingerprint throughput and match quality on generated session notes.

    /work/venv/bin/python -m benchmarks.fragments_bench [MB] [records]

Prints text_fingerprints MB/s (CPU time, best of 3, one core), and recall /
false positives of `match` on lightly edited 40-word excerpts.
"""

from __future__ import annotations

import random
import sys
import time

from matchers import fragments as fr
from matchers.keys import Key
from tests.unit.notegen import NoteGen


def main() -> None:
    mb = float(sys.argv[1]) if len(sys.argv) > 1 else 20
    n_records = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    key = Key(bytes(range(32)))
    gen = NoteGen(3)
    block = "\n".join(gen.prose(200) for _ in range(1000))
    text = block * max(1, int(mb * 1e6 / len(block)))
    fr.text_fingerprints(key, block[:10000])
    best = min(_cpu(lambda: fr.text_fingerprints(key, text)) for _ in range(3))
    print(f"text_fingerprints: {len(text) / 1e6:.1f} MB (Finnish/English, latin-1 range) "
          f"{len(text) / best / 1e6:.1f} MB/s")
    wide = text[: len(text) // 4].replace("a", "α")  # forces the UTF-32 path
    best = min(_cpu(lambda: fr.text_fingerprints(key, wide)) for _ in range(3))
    print(f"text_fingerprints: {len(wide) / 1e6:.1f} M chars beyond latin-1 "
          f"{len(wide) / best / 1e6:.1f} M chars/s")

    rng = random.Random(5)
    notes = NoteGen(1)
    records = [notes.note(rng.randint(100, 400)) for _ in range(n_records)]
    t = time.process_time()
    fps = [fr.record_fingerprints(key, r) for r in records]
    index = fr.build_index(fps, fr.stop_fingerprints(fps))
    print(f"enrolled {n_records} notes in {time.process_time() - t:.1f} s, "
          f"{index.fp_counts.mean():.0f} fingerprints per note kept")
    filler, exg = NoteGen(2), NoteGen(4)
    for edits in (0, 2, 3, 4):
        found, trials = 0, 500
        for _ in range(trials):
            r = rng.randrange(n_records)
            ex = exg.excerpt(records[r], 40, edits)
            hits = fr.match(*index, *fr.text_fingerprints(
                key, filler.prose(100) + "\n" + ex + "\n" + filler.prose(100)))
            mine = [h for h in hits if h[0] == r]
            found += bool(mine)
        print(f"recall, 40-word excerpts, {edits} replaced words"
              f"{' + 1 inserted/dropped' if edits > 1 else ''}: {found / trials:.3f}")
    words: list[str] = []
    fp_gen = NoteGen(9)
    for _ in range(5000):
        words += fp_gen.prose(100).split()
        rec = records[rng.randrange(n_records)].split()
        n = rng.randint(3, 7)
        i = rng.randrange(0, len(rec) - n)
        words += rec[i : i + n]
    unrelated = " ".join(words)
    hits = fr.match(*index, *fr.text_fingerprints(key, unrelated))
    loose = fr.match(*index, *fr.text_fingerprints(key, unrelated), min_matches=1,
                     threshold=2.0)
    worst = max((round(h[1] * index.fp_counts[h[0]]) for h in loose), default=0)
    print(f"false positives on {len(unrelated) / 1e6:.1f} MB unrelated notes with 5000 "
          f"copied 3-7 word record phrases: {len(hits)} (largest region: {worst} "
          f"fingerprints, hit needs {fr.MIN_MATCHES})")


def _cpu(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.process_time()
    fn()
    return time.process_time() - t


if __name__ == "__main__":
    main()
