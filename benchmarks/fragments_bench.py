"""Fragment fingerprint throughput and match quality on generated session notes.

    /work/venv/bin/python -m benchmarks.fragments_bench [MB] [records]

Prints text_fingerprints MB/s (CPU time, best of 3, one core) on prose and on
paste-like mixed lines (prose, CSV rows, numbers, e-mails, dates: the scan
benchmark's corpus), enrolment cost per note (`record_fingerprints_many` in
batches of 1000, as `matchers.register` calls it, and one by one), and recall /
false positives of `match` on lightly edited 40-word excerpts.
"""

from __future__ import annotations

import random
import sys
import time

from vahti.demo import synthetic
from vahti.demo.notegen import NoteGen
from vahti.matchers import fragments as fr
from vahti.matchers.keys import Key


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
    rng = random.Random(1)
    lines: list[str] = []
    size = 0
    while size < mb * 1e6:
        lines.append(synthetic.noise_line(rng))
        size += len(lines[-1]) + 1
    mixed = "\n".join(lines)
    best = min(_cpu(lambda: fr.text_fingerprints(key, mixed)) for _ in range(3))
    print(f"text_fingerprints: {len(mixed) / 1e6:.1f} MB paste-like mixed lines "
          f"{len(mixed) / best / 1e6:.1f} MB/s")
    wide = text[: len(text) // 4].replace("a", "α")  # forces the UTF-32 path
    best = min(_cpu(lambda: fr.text_fingerprints(key, wide)) for _ in range(3))
    print(f"text_fingerprints: {len(wide) / 1e6:.1f} M chars beyond latin-1 "
          f"{len(wide) / best / 1e6:.1f} M chars/s")

    rng = random.Random(5)
    notes = NoteGen(1)
    records = [notes.note(rng.randint(100, 400)) for _ in range(n_records)]
    people = synthetic.make_people(5000, seed=5)
    register_notes = [p.notes[0] for p in people]
    words = sum(len(n.split()) for n in register_notes) / len(register_notes)
    batched = min(_cpu(lambda: [fr.record_fingerprints_many(key, register_notes[i : i + 1000])
                                for i in range(0, len(register_notes), 1000)])
                  for _ in range(3))
    single = _cpu(lambda: [fr.record_fingerprints(key, n) for n in register_notes[:1000]])
    print(f"enrolment, register notes of {words:.0f} words: "
          f"{batched / len(register_notes) * 1e3:.3f} ms/note in batches of 1000, "
          f"{single / 1000 * 1e3:.3f} ms/note one by one")
    t = time.process_time()
    fps = fr.record_fingerprints_many(key, records)
    index = fr.build_index(fps, fr.stop_fingerprints(fps))
    print(f"enrolled {n_records} notes of 100-400 words in {time.process_time() - t:.2f} s, "
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
