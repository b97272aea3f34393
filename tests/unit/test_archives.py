"""iter_members / iter_paths over real archives built in tmp_path."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import random
import subprocess
import sys
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import py7zr
import pytest

from vahti.matchers.archives import (
    DEFAULT_LIMITS,
    ArchiveLimits,
    Member,
    MiB,
    iter_members,
    iter_paths,
    zstd,  # compression.zstd, or its backport before Python 3.14
)

REPO = Path(__file__).resolve().parents[2]
SECRET = b"SALAISUUS 131052-308T"


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _7z(members: dict[str, bytes], password: str | None = None,
        header_encryption: bool = False) -> bytes:
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", password=password,
                            header_encryption=header_encryption) as sz:
        for name, data in members.items():
            sz.writestr(data, name)
    return buf.getvalue()


def _found(members: list[Member]) -> dict[str, bytes | None]:
    return {m.location: m.data for m in members}


def _reasons(members: list[Member]) -> dict[str, str]:
    return {m.location: m.skipped_reason for m in members if m.skipped_reason}


def _assert_no_content_in_reasons(members: list[Member]) -> None:
    for m in members:
        assert (m.data is None) == (m.skipped_reason is not None)
        if m.skipped_reason:
            assert SECRET.decode() not in m.skipped_reason
            assert "SALAISUUS" not in m.skipped_reason


def test_plain_file_is_one_member(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_bytes(SECRET)
    assert list(iter_members(p, "notes.txt")) == [Member("notes.txt", SECRET, None)]
    assert list(iter_members(SECRET, "<bytes>")) == [Member("<bytes>", SECRET, None)]


def test_zip_members_and_directories(tmp_path: Path) -> None:
    p = tmp_path / "dump.zip"
    p.write_bytes(_zip({"a.txt": b"first", "sub/": b"", "sub/b.csv": SECRET}))
    got = list(iter_members(p, "dump.zip"))
    assert _found(got) == {"dump.zip!a.txt": b"first", "dump.zip!sub/b.csv": SECRET}


def test_deeply_nested_archives_of_every_kind(tmp_path: Path) -> None:
    inner7z = _7z({"deep/note.txt": SECRET, "empty.txt": b""})
    gz_single = gzip.compress(b"INSERT INTO t VALUES (1);")
    tgz = _tar({"inner.7z": inner7z, "x.sql.gz": gz_single}, mode="w:gz")
    tbz = _tar({"b.txt": b"bee"}, mode="w:bz2")
    txz = _tar({"c.txt": b"sea"}, mode="w:xz")
    plain_tar = _tar({"d.txt": b"dee"})
    outer = _zip({
        "a/t.tgz": tgz, "t.tar.bz2": tbz, "t.tar.xz": txz, "plain.tar": plain_tar,
        "n.bz2": bz2.compress(b"bzip"), "n.xz": lzma.compress(b"xz"),
        "renamed.bin": _zip({"hidden.txt": b"by magic"}),  # detected by content, not name
    })
    (tmp_path / "outer.zip").write_bytes(outer)
    got = list(iter_members(tmp_path / "outer.zip", "outer.zip"))
    assert _found(got) == {
        "outer.zip!a/t.tgz!inner.7z!deep/note.txt": SECRET,
        "outer.zip!a/t.tgz!inner.7z!empty.txt": b"",
        "outer.zip!a/t.tgz!x.sql.gz!x.sql": b"INSERT INTO t VALUES (1);",
        "outer.zip!t.tar.bz2!b.txt": b"bee",
        "outer.zip!t.tar.xz!c.txt": b"sea",
        "outer.zip!plain.tar!d.txt": b"dee",
        "outer.zip!n.bz2!n": b"bzip",
        "outer.zip!n.xz!n": b"xz",
        "outer.zip!renamed.bin!hidden.txt": b"by magic",
    }


def test_top_level_gz_and_7z_from_disk(tmp_path: Path) -> None:
    (tmp_path / "dump.sql.gz").write_bytes(gzip.compress(SECRET))
    (tmp_path / "x.7z").write_bytes(_7z({"a.txt": b"a", "b/c.txt": b"c"}))
    got = list(iter_paths([str(tmp_path / "dump.sql.gz"), str(tmp_path / "x.7z")]))
    assert _found(got) == {
        f"{tmp_path}/dump.sql.gz!dump.sql": SECRET,
        f"{tmp_path}/x.7z!a.txt": b"a",
        f"{tmp_path}/x.7z!b/c.txt": b"c",
    }


def _set_encrypted_flag(data: bytes, name: bytes) -> bytes:
    """Set general-purpose bit 0 ("encrypted") for one member, in its local
    header and its central-directory entry, as an encrypting zip tool would."""
    out = bytearray(data)
    pos = 0
    while (pos := out.find(b"PK\x03\x04", pos)) >= 0:
        n = int.from_bytes(out[pos + 26 : pos + 28], "little")
        if out[pos + 30 : pos + 30 + n] == name:
            out[pos + 6] |= 1
        pos += 4
    pos = 0
    while (pos := out.find(b"PK\x01\x02", pos)) >= 0:
        n = int.from_bytes(out[pos + 28 : pos + 30], "little")
        if out[pos + 46 : pos + 46 + n] == name:
            out[pos + 8] |= 1
        pos += 4
    return bytes(out)


def test_encrypted_zip_member_is_skipped_rest_goes_on() -> None:
    data = _set_encrypted_flag(_zip({"locked.txt": SECRET, "open.txt": b"open"}), b"locked.txt")
    got = list(iter_members(data, "e.zip"))
    assert _reasons(got) == {"e.zip!locked.txt": "encrypted: password-protected member"}
    assert _found(got)["e.zip!open.txt"] == b"open"
    _assert_no_content_in_reasons(got)


def test_encrypted_7z() -> None:
    got = list(iter_members(_7z({"a.txt": SECRET, "b.txt": SECRET}, password="pw"), "e.7z"))
    assert _reasons(got) == {"e.7z!a.txt": "encrypted: password-protected member",
                             "e.7z!b.txt": "encrypted: password-protected member"}
    hidden = _7z({"a.txt": SECRET}, password="pw", header_encryption=True)
    got = list(iter_members(hidden, "h.7z"))
    assert _reasons(got) == {"h.7z": "encrypted: password-protected archive"}


def test_zip_bomb_is_stopped_without_inflating_it() -> None:
    """20 MB of zeros deflate to ~20 KB (ratio ~1000): stopped, and the scan
    never holds anything near 20 MB."""
    bomb = _zip({"zeros.bin": b"\0" * (20 * MiB), "after.txt": b"still scanned"})
    tracemalloc.start()
    try:
        got = list(iter_members(bomb, "bomb.zip"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert _reasons(got) == {"bomb.zip!zeros.bin": "archive bomb: compression ratio over 100"}
    assert _found(got)["bomb.zip!after.txt"] == b"still scanned"
    assert peak < 3 * MiB


def test_zip_bomb_with_lying_header_is_stopped_by_running_count() -> None:
    """A header claiming a small size does not help: zipfile stops at the
    declared size and the CRC check reports the member as corrupt."""
    data = bytearray(_zip({"zeros.bin": b"\0" * (8 * MiB)}))
    cd = data.find(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (1000).to_bytes(4, "little")  # declared uncompressed size
    got = list(iter_members(bytes(data), "liar.zip"))
    assert len(got) == 1 and got[0].data is None
    assert got[0].skipped_reason is not None
    assert got[0].skipped_reason.startswith(("corrupt archive: zip", "archive bomb"))


@pytest.mark.parametrize("name,compress", [
    ("x.gz", lambda data: gzip.compress(data, compresslevel=9)),
    ("x.zst", lambda data: zstd.compress(data)),  # 2 KB
])
def test_compressed_bomb_stream_stops_early(name: str, compress) -> None:  # noqa: ANN001
    bomb = compress(b"\0" * (64 * MiB))
    tracemalloc.start()
    try:
        got = list(iter_members(bomb, name))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert _reasons(got) == {f"{name}!x": "archive bomb: compression ratio over 100"}
    assert peak < 8 * MiB


def _tar_zst(members: dict[str, bytes]) -> bytes:
    return zstd.compress(_tar(members))


def test_zstandard_files_are_read(tmp_path: Path) -> None:
    """A .zst (Zstandard, what current tools and distributions pack with) was "binary:
    N% control bytes in sample", and nothing in it was read. A .zst is one member named
    after it, or a tar expanded in the same layer; frames written one after another are
    one stream, as `zstd -d` reads them; found by its magic bytes, not its name."""
    (tmp_path / "dump.sql.zst").write_bytes(zstd.compress(SECRET))
    (tmp_path / "t.tar.zst").write_bytes(_tar_zst({"a.txt": b"a", "b/c.csv": SECRET}))
    (tmp_path / "t.tzst").write_bytes(_tar_zst({"d.txt": b"dee"}))
    (tmp_path / "frames.zst").write_bytes(zstd.compress(b"one ") + zstd.compress(SECRET))
    (tmp_path / "in.zip").write_bytes(_zip({"x.csv.zst": zstd.compress(SECRET),
                                            "renamed.bin": zstd.compress(b"by magic")}))
    got = list(iter_paths([str(tmp_path)]))
    assert _found(got) == {
        f"{tmp_path}/dump.sql.zst!dump.sql": SECRET,
        f"{tmp_path}/frames.zst!frames": b"one " + SECRET,
        f"{tmp_path}/in.zip!renamed.bin!renamed.bin": b"by magic",
        f"{tmp_path}/in.zip!x.csv.zst!x.csv": SECRET,
        f"{tmp_path}/t.tar.zst!a.txt": b"a",
        f"{tmp_path}/t.tar.zst!b/c.csv": SECRET,
        f"{tmp_path}/t.tzst!d.txt": b"dee",
    }


def test_a_bomb_in_a_tar_zst_stops_the_tar() -> None:
    bomb_tar = _tar_zst({"ok.txt": b"fine", "zeros": b"\0" * (16 * MiB), "late.txt": b"x"})
    got = list(iter_members(bomb_tar, "t.tar.zst"))
    assert _found(got)["t.tar.zst!ok.txt"] == b"fine"
    assert _reasons(got) == {"t.tar.zst!zeros": "archive bomb: compression ratio over 100"}


def test_corrupt_zstandard_is_said_so() -> None:
    good = zstd.compress(SECRET * 1000)
    got = list(iter_members(good[: len(good) // 2], "cut.zst"))
    assert _reasons(got) == {"cut.zst": "corrupt archive: zst (EOFError)"}
    got = list(iter_members(b"\x28\xb5\x2f\xfd" + random.Random(4).randbytes(150), "x.zst"))
    assert _reasons(got) == {"x.zst": "corrupt archive: zst (ZstdError)"}
    _assert_no_content_in_reasons(got)


def test_tgz_bomb_stops_the_tar_but_not_the_scan(tmp_path: Path) -> None:
    (tmp_path / "a.tgz").write_bytes(_tar({"ok.txt": b"fine", "zeros": b"\0" * (16 * MiB),
                                           "late.txt": b"late"}, mode="w:gz"))
    (tmp_path / "b.txt").write_bytes(b"next input")
    got = list(iter_paths([str(tmp_path)]))
    found, reasons = _found(got), _reasons(got)
    assert found[f"{tmp_path}/a.tgz!ok.txt"] == b"fine"
    assert reasons[f"{tmp_path}/a.tgz!zeros"] == "archive bomb: compression ratio over 100"
    assert f"{tmp_path}/a.tgz!late.txt" not in found  # nothing after a bomb is trusted
    assert found[f"{tmp_path}/b.txt"] == b"next input"


def test_depth_limit() -> None:
    data = b"bottom"
    for i in range(7):
        data = _zip({f"l{i}.txt" if i == 0 else f"l{i}.zip": data})
    got = list(iter_members(data, "top.zip", ArchiveLimits(max_depth=5)))
    assert len(got) == 1
    assert got[0].skipped_reason == "archive bomb: nested deeper than 5 archives"
    assert got[0].location.count("!") == 5
    got = list(iter_members(data, "top.zip", ArchiveLimits(max_depth=7)))
    assert got[0].data == b"bottom" and got[0].location.count("!") == 7


def test_member_size_limit() -> None:
    limits = ArchiveLimits(max_member_size=100_000)
    rnd = os.urandom(150_000)  # incompressible: not a ratio problem, just too big
    got = list(iter_members(_zip({"big.bin": rnd, "small.txt": b"s"}), "z.zip", limits))
    assert _reasons(got) == {"z.zip!big.bin": "archive bomb: member over 97.6562 KiB unpacked"}
    got = list(iter_members(_tar({"big.bin": rnd, "small.txt": b"s"}), "t.tar", limits))
    assert _reasons(got) == {"t.tar!big.bin": "archive bomb: member over 97.6562 KiB unpacked"}
    assert _found(got)["t.tar!small.txt"] == b"s"


def test_total_budget_stops_the_input_only(tmp_path: Path) -> None:
    limits = ArchiveLimits(max_total_unpacked=1 * MiB)
    parts = {f"p{i}.bin": os.urandom(400_000) for i in range(5)}
    (tmp_path / "a.zip").write_bytes(_zip({"inner.zip": _zip(parts)}))
    (tmp_path / "b.txt").write_bytes(b"next")
    got = list(iter_paths([str(tmp_path / "a.zip"), str(tmp_path / "b.txt")], limits))
    reasons = _reasons(got)
    assert list(reasons.values()) == ["archive bomb: more than 1 MiB unpacked from one input"]
    assert len([m for m in got if m.data is not None and "a.zip" in m.location]) <= 2
    assert _found(got)[f"{tmp_path}/b.txt"] == b"next"


def test_corrupt_archives_are_skipped_and_scan_continues(tmp_path: Path) -> None:
    good = _zip({"a.txt": SECRET, "b.txt": SECRET * 100})
    (tmp_path / "1-truncated.zip").write_bytes(good[: len(good) // 2])
    (tmp_path / "2-garbage.gz").write_bytes(b"\x1f\x8b" + os.urandom(150))
    tgz = _tar({"first.txt": b"one", "second.txt": os.urandom(50_000)}, mode="w:gz")
    (tmp_path / "3-cut.tgz").write_bytes(tgz[: len(tgz) - 20_000])
    (tmp_path / "4-fake.7z").write_bytes(b"7z\xbc\xaf\x27\x1c" + b"\0" * 50)
    (tmp_path / "5-good.txt").write_bytes(b"good")
    got = list(iter_paths([str(tmp_path)]))
    reasons = _reasons(got)
    assert reasons[f"{tmp_path}/1-truncated.zip"] == "corrupt archive: zip (BadZipFile)"
    assert reasons[f"{tmp_path}/2-garbage.gz"].startswith("corrupt archive: gz (")
    assert _found(got)[f"{tmp_path}/3-cut.tgz!first.txt"] == b"one"
    assert any(k.startswith(f"{tmp_path}/3-cut.tgz") and v.startswith("corrupt archive: tar.gz")
               for k, v in reasons.items())
    assert reasons[f"{tmp_path}/4-fake.7z"].startswith("corrupt archive: 7z (")
    assert _found(got)[f"{tmp_path}/5-good.txt"] == b"good"
    _assert_no_content_in_reasons(got)


@pytest.mark.parametrize("magic", [b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"BZh91AY&SY",
                                   b"\xfd7zXZ\x00", b"7z\xbc\xaf\x27\x1c",
                                   b"\x28\xb5\x2f\xfd"])
def test_text_behind_an_archive_s_magic_bytes_is_read_as_text(tmp_path: Path,
                                                               magic: bytes) -> None:
    """An archive's magic bytes put before a dump made it a "corrupt archive", and none
    of it was read. An archive that cannot be opened, and whose bytes read as text all
    over, is read as text (its first bytes too), at its own location."""
    dump = b"".join(b"%d;Matti;" % i + SECRET + b"\n" for i in range(2000))
    path = tmp_path / "dump.csv"
    path.write_bytes(magic + dump)
    for got in (list(iter_paths([str(path)])), list(iter_members(magic + dump, "x"))):
        assert len(got) == 1 and got[0].skipped_reason is None
        assert got[0].data == magic + dump


def test_a_truncated_zip_of_stored_text_is_read_as_text_a_compressed_one_is_corrupt() -> None:
    stored = _zip({"a.csv": SECRET * 3000}, zipfile.ZIP_STORED)
    got = list(iter_members(stored[: len(stored) // 2], "cut.zip"))
    assert [m.location for m in got] == ["cut.zip"] and got[0].data is not None
    assert got[0].data.count(SECRET) >= 1400
    rng = random.Random(3)
    noise = bytes(rng.getrandbits(8) for _ in range(60_000))  # does not compress
    deflated = _zip({"a.bin": noise, "b.txt": SECRET})
    got = list(iter_members(deflated[: len(deflated) // 2], "cut.zip"))
    assert _reasons(got) == {"cut.zip": "corrupt archive: zip (BadZipFile)"}


def test_directory_walk_is_sorted_and_recursive(tmp_path: Path) -> None:
    for rel in ["b/z.txt", "b/a.txt", "a.txt", "c/d/e.txt", "B.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(rel.encode())
    os.symlink(tmp_path / "b", tmp_path / "loop")  # a symlinked directory is not followed
    locs = [m.location for m in iter_paths([str(tmp_path)])]
    rel = [os.path.relpath(p, tmp_path) for p in locs]
    assert rel == ["B.txt", "a.txt", "b/a.txt", "b/z.txt", "c/d/e.txt"]
    assert locs == [m.location for m in iter_paths([str(tmp_path)])]


def test_missing_path() -> None:
    assert list(iter_paths(["/nonexistent/vahti-test"])) == [
        Member("/nonexistent/vahti-test", None, "not found")]


def test_stdin_archive() -> None:
    """'-' reads stdin, a real pipe into a real process."""
    code = (
        "from matchers.archives import iter_paths\n"
        "for m in iter_paths(['-']):\n"
        "    print(m.location, len(m.data) if m.data is not None else m.skipped_reason)\n"
    )
    data = gzip.compress(_tar({"a.txt": b"12345", "b.txt": b"123"}))
    out = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True,
                         cwd=REPO, check=True, timeout=60)
    assert out.stdout.decode().splitlines() == ["<stdin>!a.txt 5", "<stdin>!b.txt 3"]


def test_default_limits_are_documented_values() -> None:
    assert DEFAULT_LIMITS.max_depth == 5
    assert DEFAULT_LIMITS.max_ratio == 100
    assert DEFAULT_LIMITS.max_member_size == 1024 * MiB


# -- sparse tar members: holes are unpacked bytes too ---------------------------------
# (peak RSS from VmHWM: ru_maxrss would carry the forking pytest's over exec)

_SPARSE_PROBE = (
    "import json, sys, time\n"
    "from matchers.archives import iter_members\n"
    "t0 = time.perf_counter()\n"
    "got = [(m.location, m.skipped_reason, None if m.data is None else len(m.data))\n"
    "       for m in iter_members(sys.argv[1], 'sparse.tar')]\n"
    "print(json.dumps({'members': got, 'seconds': time.perf_counter() - t0,\n"
    "                  'peak_rss_kib': int(open('/proc/self/status').read()\n"
    "                  .split('VmHWM:')[1].split()[0])}))\n"
)


def _sparse_tar(tmp_path: Path, fmt: str) -> Path:
    """A real GNU tar of two 300 MiB all-hole files (made with truncate) and a small
    text file: about 10 KB on disk whatever the holes' size."""
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    for name in ("a.dat", "b.dat"):
        subprocess.run(["truncate", "-s", "300M", str(src / name)], check=True)
    (src / "small.txt").write_bytes(SECRET)
    out = tmp_path / f"sparse-{fmt}.tar"
    opts = (["--format=gnu"] if fmt == "gnu"
            else ["--format=pax", f"--sparse-version={fmt}"])
    subprocess.run(["tar", "--sparse", *opts, "-cf", str(out), "-C", str(src),
                    "a.dat", "b.dat", "small.txt"], check=True)
    assert out.stat().st_size < 64 * 1024
    return out


@pytest.mark.parametrize("fmt", ["gnu", "0.0", "0.1", "1.0"])
def test_sparse_tar_members_are_refused_before_reading(tmp_path: Path, fmt: str) -> None:
    """Old GNU sparse headers and the pax sparse formats 0.0/0.1/1.0: the declared
    size counts against the ratio before anything is read, so 600 MiB of holes cost
    neither time nor memory; the rest of the tar is still read."""
    tar = _sparse_tar(tmp_path, fmt)
    out = subprocess.run([sys.executable, "-c", _SPARSE_PROBE, str(tar)], capture_output=True,
                         cwd=REPO, check=True, timeout=120)
    probe = json.loads(out.stdout)
    members = {loc: (reason, size) for loc, reason, size in probe["members"]}
    assert members["sparse.tar!small.txt"] == (None, len(SECRET))
    for name in ("a.dat", "b.dat"):
        reason, size = members[f"sparse.tar!{name}"]
        assert size is None and reason.startswith("archive bomb: sparse member"), reason
    assert probe["seconds"] < 5
    assert probe["peak_rss_kib"] < 200 * 1024, probe["peak_rss_kib"]


# -- member count: many tiny members cost a page record and a scan each --------------

def _many(n: int) -> dict[str, bytes]:
    return {f"m{i:05d}.txt": b"x" for i in range(n)}


@pytest.mark.parametrize("kind", ["zip", "tar", "tgz", "7z"])
def test_member_count_limit_stops_the_input_and_says_so(kind: str) -> None:
    build = {"zip": _zip, "tar": _tar, "tgz": lambda m: _tar(m, mode="w:gz"), "7z": _7z}[kind]
    data = build(_many(30))
    got = list(iter_members(data, f"many.{kind}", ArchiveLimits(max_members=10)))
    read = [m.location for m in got if m.data is not None]
    assert read == [f"many.{kind}!m{i:05d}.txt" for i in range(10)]
    assert _reasons(got) == {f"many.{kind}": "too many members: more than 10 in one input "
                                             "(the rest was not read)"}


def test_member_count_limit_counts_nested_members_against_the_input() -> None:
    outer = _zip({"a.zip": _zip(_many(8)), "b.7z": _7z(_many(8)), "c.txt": b"c"})
    got = list(iter_members(outer, "o.zip", ArchiveLimits(max_members=12)))
    # every entry counts, archives too: a.zip, its 8, b.7z, then 2 of its members
    assert len([m for m in got if m.data is not None]) == 10
    assert _reasons(got) == {"o.zip!b.7z": "too many members: more than 12 in one input "
                                           "(the rest was not read)"}


def test_default_member_limit() -> None:
    assert DEFAULT_LIMITS.max_members == 10_000
