"""Inputs that are not read are never silent: documents (SQLite, PDF, docx) are read
as text, everything else is reported with its reason in the output, `--json` and the
run record, and a command that could read nothing exits 2 instead of saying "nobody".
Real processes: `vahti` subprocesses against the real embedded database, real files
made by sqlite3, matplotlib (PDF), `zip -P` (ZipCrypto) and py7zr; a real FIFO."""

from __future__ import annotations

import io
import json
import os
import random
import sqlite3
import subprocess
import zipfile
from pathlib import Path

import matplotlib
import py7zr
import pytest

from tests.integration.test_hunt import enroll as enroll_people
from tests.privacy import assert_no_plaintext, everything_written
from tests.unit.test_binary_strings import page
from vahti.demo.synthetic import make_people
from vahti.matchers import decode
from vahti.matchers.binary_strings import read_reason

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pytestmark = pytest.mark.integration

PEOPLE = make_people(6, seed=1212)


def enroll(vahti, tmp_path: Path) -> None:
    enroll_people(vahti, tmp_path, PEOPLE)


def plaintext() -> list[str]:
    return [v for p in PEOPLE for v in (p.hetu, p.email, p.full_name)]


def line(p) -> str:  # noqa: ANN001
    return f"{p.full_name} {p.hetu}"


def encrypted_zip(path: Path, text: str) -> Path:
    work = path.parent / (path.name + ".src")
    work.mkdir()
    (work / "notes.txt").write_text(text, encoding="utf-8")
    subprocess.run(["zip", "-q", "-P", "salasana", str(path), "notes.txt"], cwd=work, check=True)
    (work / "notes.txt").unlink()
    work.rmdir()
    return path


def encrypted_7z(path: Path, text: str) -> Path:
    with py7zr.SevenZipFile(path, "w", password="salasana", header_encryption=True) as sz:
        sz.writestr(text.encode(), "notes.txt")
    return path


def sqlite_db(path: Path, people) -> Path:  # noqa: ANN001
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE visits (id INTEGER PRIMARY KEY, name TEXT, hetu TEXT)")
    conn.executemany("INSERT INTO visits (name, hetu) VALUES (?, ?)",
                     [(p.full_name, p.hetu) for p in people])
    conn.commit()
    conn.close()
    return path


def pdf(path: Path, text: str) -> Path:
    fig = plt.figure()
    fig.text(0.05, 0.5, text)
    fig.savefig(path, format="pdf")
    plt.close(fig)
    return path


def docx(path: Path, text: str) -> Path:
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    half = len(text) // 2  # two formatting runs, as Word writes them
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml",
                    f"<w:document {w}><w:body><w:p><w:r><w:t>{text[:half]}</w:t></w:r>"
                    f"<w:r><w:t>{text[half:]}</w:t></w:r></w:p></w:body></w:document>")
    return path


def found(stdout: str) -> tuple[dict[str, set[str]], dict | None]:
    """scan --json: location -> refs, and the summary line if there is one."""
    by_location: dict[str, set[str]] = {}
    summary = None
    for raw in stdout.splitlines():
        obj = json.loads(raw)
        if "summary" in obj:
            summary = obj["summary"]
        else:
            by_location.setdefault(obj["location"], set()).add(obj["ref"])
    return by_location, summary


def test_documents_are_found_and_unread_inputs_reported(vahti, tmp_path: Path) -> None:
    enroll(vahti, tmp_path)
    dump = tmp_path / "dump"
    dump.mkdir()
    a, b, c, d = PEOPLE[:4]
    sqlite_db(dump / "patients.db", [a])
    pdf(dump / "report.pdf", line(b))
    docx(dump / "notes.docx", line(c))
    encrypted_zip(dump / "locked.zip", line(d))
    (dump / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    # a database file vahti has no reader for: its strings are read, and it is reported
    mdf = page([PEOPLE[4]], random.Random(4))
    (dump / "tietokanta.mdf").write_bytes(mdf)
    strings_only = read_reason(decode.decode_bytes(mdf).reason)

    scanned = vahti.run("scan", str(dump), "--json", timeout=300)
    assert scanned.returncode == 1, scanned.stderr
    by_location, summary = found(scanned.stdout)
    assert by_location == {f"{dump}/patients.db!table:visits": {a.ref},
                           f"{dump}/report.pdf": {b.ref}, f"{dump}/notes.docx": {c.ref},
                           f"{dump}/tietokanta.mdf": {PEOPLE[4].ref}}
    assert summary is not None
    assert summary["skipped"]["by_reason"] == {"binary": 1, "encrypted": 1, "strings only": 1}
    assert summary["skipped"]["inputs"] == [
        {"location": f"{dump}/locked.zip!notes.txt",
         "reason": "encrypted: password-protected member"},
        {"location": f"{dump}/photo.png", "reason": "binary: PNG image"},
        {"location": f"{dump}/tietokanta.mdf", "reason": strings_only}]
    assert strings_only.startswith("strings only: ") and "NUL bytes" in strings_only
    assert summary["read"] == 3

    human = vahti.run("scan", str(dump), "--no-store", timeout=300)
    assert human.returncode == 1, human.stderr
    assert ("NOT READ: 3 inputs skipped (1 binary, 1 encrypted, 1 strings only); nothing in "
            "them was looked at but the text strings of the strings only ones"
            in " ".join(human.stdout.split()))
    assert f"skipped {dump}/locked.zip!notes.txt: encrypted" in human.stderr

    run = [r for r in vahti.stored("runs", {"kind": "scan"})]
    assert len(run) == 1 and run[0]["state"] == "done"
    assert run[0]["skipped"] == {"binary": 1, "encrypted": 1, "strings only": 1}
    assert run[0]["read"] == 3

    # the password file opens the zip: mode 0600 or it is refused
    passwords = tmp_path / "passwords.txt"
    passwords.write_text("wrong\nsalasana\n")
    passwords.chmod(0o644)
    loose = vahti.run("scan", str(dump / "locked.zip"), "--password-file", str(passwords))
    assert loose.returncode == 2 and "must not be accessible by group or others" in loose.stderr
    assert "salasana" not in loose.stderr + loose.stdout
    passwords.chmod(0o600)
    opened = vahti.run("scan", str(dump / "locked.zip"), "--password-file", str(passwords),
                       "--json")
    assert opened.returncode == 1, opened.stderr
    assert found(opened.stdout) == ({f"{dump}/locked.zip!notes.txt": {d.ref}}, None)

    outputs = [("scan", scanned.stdout + scanned.stderr), ("human", human.stdout + human.stderr),
               ("opened", opened.stdout + opened.stderr)]
    assert_no_plaintext(everything_written(vahti, tmp_path / "db-dump", outputs), plaintext())


def test_nothing_readable_exits_2_with_the_reasons(vahti, tmp_path: Path) -> None:
    enroll(vahti, tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    z = encrypted_zip(tmp_path / "a.zip", line(PEOPLE[0]))
    s = encrypted_7z(tmp_path / "b.7z", line(PEOPLE[1]))

    result = vahti.run("scan", str(fifo), str(z), str(s), timeout=120)
    assert result.returncode == 2
    assert ("nothing could be read: 3 inputs skipped (2 encrypted, 1 not a regular file)"
            in result.stderr)
    assert "0 findings" not in result.stdout
    run = vahti.stored("runs", {"kind": "scan"})
    assert [(r["state"], r["read"], r["skipped"]) for r in run] == [
        ("failed", 0, {"encrypted": 2, "not a regular file": 1})]

    as_json = vahti.run("scan", str(fifo), str(z), "--json", "--no-store")
    assert as_json.returncode == 2
    assert found(as_json.stdout)[1]["skipped"]["by_reason"] == {
        "encrypted": 1, "not a regular file": 1}

    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = vahti.run("scan", str(empty))
    assert nothing.returncode == 2 and "nothing could be read: no files in" in nothing.stderr


def test_hunt_of_an_encrypted_archive_never_says_nobody(vahti, tmp_path: Path) -> None:
    enroll(vahti, tmp_path)
    locked = encrypted_7z(tmp_path / "dump.7z", line(PEOPLE[0]))
    for args in ((), ("--json",)):
        result = vahti.run("hunt", str(locked), *args, timeout=120)
        assert result.returncode == 2, result.stderr
        assert "nobody on the watchlist is in it" not in result.stdout
        assert "nothing could be read: 1 input skipped (1 encrypted)" in result.stderr
    runs = vahti.stored("runs", {"kind": "hunt"})
    assert {r["state"] for r in runs} == {"failed"}

    # part read, part not: the answer is about the part that could be read
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "clean.txt").write_text("nothing of interest here\n")
    encrypted_zip(mixed / "locked.zip", line(PEOPLE[1]))
    result = vahti.run("hunt", str(mixed), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "nobody on the watchlist is in it" not in result.stdout
    assert "nobody on the watchlist is in the part that could be read" in result.stdout
    assert "NOT READ: 1 input skipped (1 encrypted)" in result.stdout
    report = json.loads(vahti.run("hunt", str(mixed), "--json").stdout)
    assert report["not_read"] == [{"location": f"{mixed}/locked.zip!notes.txt",
                                   "reason": "encrypted: password-protected member"}]
    assert report["totals"]["skipped"] == {"encrypted": 1} and report["totals"]["read"] == 1

    passwords = tmp_path / "pw"
    passwords.write_text("salasana\n")
    passwords.chmod(0o600)
    opened = vahti.run("hunt", str(locked), "--password-file", str(passwords), "--json")
    assert opened.returncode == 1, opened.stderr
    assert [p["ref"] for p in json.loads(opened.stdout)["found"]] == [PEOPLE[0].ref]


def test_a_docx_bomb_inside_a_zip_is_reported_not_inflated(vahti, tmp_path: Path) -> None:
    enroll(vahti, tmp_path)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", b"<w:document>" + b" " * (64 << 20))
    with zipfile.ZipFile(tmp_path / "dump.zip", "w") as zf:
        zf.writestr("report.docx", inner.getvalue())
        zf.writestr("note.txt", line(PEOPLE[2]))
    result = vahti.run("scan", str(tmp_path / "dump.zip"), "--json", timeout=120)
    assert result.returncode == 1, result.stderr
    by_location, summary = found(result.stdout)
    assert by_location == {f"{tmp_path}/dump.zip!note.txt": {PEOPLE[2].ref}}
    assert summary["skipped"]["inputs"] == [
        {"location": f"{tmp_path}/dump.zip!report.docx",
         "reason": "archive bomb: compression ratio over 100"}]
