"""What the archive limits cost and save: the sparse tar and the many-member 7z.

1. A real GNU sparse tar (``tar --sparse`` over files made with ``truncate``): four
   900 MiB all-hole members and one small text file, about 10 KB on disk. Time to
   refuse the holes and the peak RSS of the process that reads it (a child, so the
   figure is its own).
2. A 7z of 20,000 one-line members (about 40-60 KB): members expanded, then scanned
   (`matchers.scanfiles.scan_files`, 50 enrolled people), with the member limit off
   and at its default (10,000), and, unless ``--no-cli``, a whole ``vahti scan``
   storing page records in the embedded database, limit off and on.

    python benchmarks/archive_limits.py [--members 20000] [--no-cli]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import py7zr  # noqa: E402

from vahti.demo import synthetic  # noqa: E402
from vahti.matchers.archives import DEFAULT_LIMITS, ArchiveLimits, iter_members  # noqa: E402
from vahti.matchers.detectors import name as name_detector  # noqa: E402
from vahti.matchers.digest import digest  # noqa: E402
from vahti.matchers.index import IndexBuilder  # noqa: E402
from vahti.matchers.keys import Key  # noqa: E402
from vahti.matchers.scanfiles import scan_files  # noqa: E402

NO_LIMIT = 10**9

_PROBE = (
    "import json, sys, time\n"
    "from matchers.archives import iter_members\n"
    "t0 = time.perf_counter()\n"
    "got = [(m.location, m.skipped_reason) for m in iter_members(sys.argv[1], 'sparse.tar')]\n"
    "print(json.dumps({'members': got, 'seconds': time.perf_counter() - t0,\n"
    "                  'peak_rss_kib': int(open('/proc/self/status').read()\n"
    "                  .split('VmHWM:')[1].split()[0])}))\n"
)


def sparse_tar(work: Path) -> None:
    src = work / "sparse"
    src.mkdir()
    names = []
    for i in range(4):
        names.append(f"hole{i}.dat")
        subprocess.run(["truncate", "-s", "900M", str(src / names[-1])], check=True)
    (src / "small.txt").write_text("small text file\n")
    tar = work / "sparse.tar"
    subprocess.run(["tar", "--sparse", "--format=pax", "-cf", str(tar), "-C", str(src),
                    *names, "small.txt"], check=True)
    out = subprocess.run([sys.executable, "-c", _PROBE, str(tar)], capture_output=True,
                         check=True, cwd=REPO)
    probe = json.loads(out.stdout)
    refused = sum(1 for _, reason in probe["members"] if reason)
    print(f"sparse tar: {tar.stat().st_size / 1024:.0f} KB on disk, 4 x 900 MiB of holes: "
          f"{refused} members refused in {probe['seconds'] * 1000:.1f} ms, "
          f"peak RSS of the reading process {probe['peak_rss_kib'] / 1024:.0f} MiB")


def many_7z(work: Path, n: int) -> Path:
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as sz:
        for i in range(n):
            sz.writestr(f"line {i}\n".encode(), f"m{i:05d}.txt")
    path = work / "many.7z"
    path.write_bytes(buf.getvalue())
    return path


def index_of(key: Key, people: list[synthetic.Person]):  # noqa: ANN201
    builder = IndexBuilder(key)
    for p in people:
        builder.add(p.ref, {"hetu": [digest(key, "hetu", p.hetu)],
                            "email": [digest(key, "email", p.email)]},
                    {"name": [digest(key, "name", f)
                              for f in name_detector.enrollment_forms(p.full_name)]})
    return builder.build()


def timed(fn) -> tuple[float, object]:  # noqa: ANN001
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def in_process(path: Path) -> None:
    key = Key(os.urandom(32))
    index = index_of(key, synthetic.make_people(50, seed=5))
    for label, limit in (("off", NO_LIMIT), (f"{DEFAULT_LIMITS.max_members}", None)):
        limits = ArchiveLimits(max_members=limit) if limit else DEFAULT_LIMITS
        secs, members = timed(lambda lim=limits: list(iter_members(path, "many.7z", lim)))
        read = sum(1 for m in members if m.data is not None)
        print(f"7z members expanded, limit {label}: {read} members in {secs:.2f} s")
        secs, events = timed(lambda lim=limits: list(scan_files([str(path)], index, key,
                                                               limits=lim)))
        print(f"7z expanded and scanned, limit {label}: {len(events)} events in {secs:.2f} s "
              f"({secs / max(read, 1) * 1000:.2f} ms a member)")


def cli(work: Path, path: Path) -> None:
    home = work / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAHTI_")}
    env.update(VAHTI_HOME=str(home), PYTHONPATH=str(REPO))
    vahti = [sys.executable, "-m", "vahti"]
    subprocess.run([*vahti, "init"], env=env, check=True, capture_output=True)
    register = work / "register.csv"
    register.write_text(synthetic.register_csv(synthetic.make_people(50, seed=5)))
    subprocess.run([*vahti, "enroll", str(register)], env=env, check=True, capture_output=True)
    for label, limit in (("off", NO_LIMIT), (f"{DEFAULT_LIMITS.max_members}", None)):
        run_env = dict(env)
        if limit:
            run_env["VAHTI_SCAN_MAX_MEMBERS"] = str(limit)
        t0 = time.perf_counter()
        done = subprocess.run([*vahti, "scan", str(path), "--source", f"bench-{label}"],
                              env=run_env, capture_output=True, text=True)
        secs = time.perf_counter() - t0
        last = done.stdout.strip().splitlines()[-2:] if done.stdout else [done.stderr.strip()]
        print(f"vahti scan (page records stored), limit {label}: {secs:.1f} s, exit "
              f"{done.returncode}: {' / '.join(last)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=20_000)
    ap.add_argument("--no-cli", action="store_true", help="skip the vahti scan runs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vahti-bench-") as tmp:
        work = Path(tmp)
        sparse_tar(work)
        path = many_7z(work, args.members)
        print(f"7z of {args.members} members: {path.stat().st_size / 1024:.0f} KB")
        in_process(path)
        if not args.no_cli:
            cli(work, path)


if __name__ == "__main__":
    main()
