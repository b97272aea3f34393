"""E-mail messages and mailboxes: their base64 and quoted-printable parts are read.

A stolen mailbox holds the patient list as an attachment: base64 in the message's bytes,
not one identity code to a scan of them, and a quoted-printable body's "M=C3=A4kel=C3=A4"
is no name. Before, a message was read as its bytes only, and "Scanned ok" said nothing
of what the attachments held.
"""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage

import pytest

from benchmarks.scan_throughput import build_index
from vahti.demo import synthetic
from vahti.matchers import mail
from vahti.matchers import scanfiles as sf
from vahti.matchers.archives import ArchiveLimits, Member, iter_members, iter_paths
from vahti.matchers.engine import Finding, Scanned, Scanner, ScanOptions
from vahti.matchers.keys import Key

KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(30, seed=41)
CSV = "".join(f"{i};{p.full_name};{p.hetu};{p.email}\n" for i, p in enumerate(PEOPLE)).encode()
# a line longer than quoted-printable's 76: a soft line break falls inside it
BODY = ("Hei, liitteenä lista. Terveisin Mäkelä\n"
        + "Potilaat tänään: " + ", ".join(f"{p.full_name} {p.hetu}" for p in PEOPLE[:4]) + "\n")


def _message(subject: str = "Potilaslista", attachments: dict[str, bytes] | None = None,
             forwarded: EmailMessage | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "vastaanotto@klinikka.example"
    msg["To"] = "kirjanpito@klinikka.example"
    msg["Subject"] = subject
    msg.set_content(BODY, charset="utf-8", cte="quoted-printable")
    for name, data in (attachments or {}).items():
        maintype, subtype = ("text", "csv") if name.endswith(".csv") else ("application", "zip")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    if forwarded is not None:
        msg.add_attachment(forwarded)
    return msg


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _found(members: list[Member]) -> dict[str, bytes | None]:
    return {m.location: m.data for m in members}


def test_a_message_s_encoded_parts_are_read() -> None:
    inner = _message("Fwd", {"vanha.csv": CSV[:200]})
    data = _message(attachments={"potilaat.csv": CSV, "lista.zip": _zip({"a.csv": CSV})},
                    forwarded=inner).as_bytes()
    assert CSV[:40] not in data and b"131052" not in data  # base64: nothing to read as is
    found = _found(list(iter_members(data, "x.eml")))
    assert found["x.eml"] == data  # the message's own bytes, read as before
    assert found["x.eml!part:2"] == BODY.encode()  # the body, quoted-printable decoded
    assert found["x.eml!potilaat.csv"] == CSV
    assert found["x.eml!lista.zip!a.csv"] == CSV  # an attached archive is expanded
    assert found["x.eml!part:7"] == BODY.encode()  # the forwarded message's body
    assert found["x.eml!vanha.csv"] == CSV[:200]  # and its attachment
    assert len(found) == 6


def test_a_mailbox_is_read_a_message_at_a_time(tmp_path) -> None:  # noqa: ANN001
    plain = b"From: a@b.example\nSubject: hei\n\nEi liitteita.\n>From here on, quoted\n"
    box = b"".join(b"From sender@example Mon Dec  7 10:00:00 2026\n" + m + b"\n" for m in (
        plain, _message(attachments={"a.csv": CSV}).as_bytes(),
        _message(attachments={"b.csv": CSV[:300]}).as_bytes()))
    path = tmp_path / "inbox.mbox"
    path.write_bytes(box)
    for got in (list(iter_paths([str(path)])), list(iter_members(box, str(path)))):
        found = _found(got)
        assert found[str(path)] == box
        assert found[f"{path}!msg:2!a.csv"] == CSV
        assert found[f"{path}!msg:3!b.csv"] == CSV[:300]
        assert f"{path}!msg:1!part:1" not in found  # nothing encoded in the first
    # read a block at a time, for a file scanned in ranges: the same parts
    got = list(__import__("vahti.matchers.archives", fromlist=["x"]).iter_encoded_parts(
        str(path)))
    assert [m.location for m in got] == [f"{path}!msg:2!part:2", f"{path}!msg:2!a.csv",
                                         f"{path}!msg:3!part:2", f"{path}!msg:3!b.csv"]


def test_mailbox_limits_say_what_was_not_read() -> None:
    big = _message(attachments={"big.csv": CSV * 40}).as_bytes()
    box = b"".join(b"From x Mon Dec  7 10:00:00 2026\n" + m + b"\n" for m in (
        big, _message(attachments={"ok.csv": CSV}).as_bytes()))
    got = list(iter_members(box, "box", ArchiveLimits(max_member_size=20_000)))
    reasons = {m.location: m.skipped_reason for m in got if m.skipped_reason}
    assert reasons == {"box!msg:1": "too large: over 19.5312 KiB"}
    assert _found(got)["box!msg:2!ok.csv"] == CSV  # the next message is read
    many = _message(attachments={f"{i}.csv": CSV[:50] for i in range(30)}).as_bytes()
    got = list(iter_members(many, "m.eml", ArchiveLimits(max_members=10)))
    reasons = [m.skipped_reason for m in got if m.skipped_reason]
    assert reasons == ["too many members: more than 10 in one input (the rest was not read)"]
    for m in got:
        assert b"131052" not in (m.skipped_reason or "").encode()


@pytest.mark.parametrize("head,kind", [
    (b"From sender@example Mon Dec  7 10:00:00 2026\nReturn-Path: <a@b>\n", "mbox"),
    (b"Received: from mx\n by mx (Postfix)\nFrom: a@b.example\n\nbody", "eml"),
    (b"X-Mozilla-Status: 0001\nSubject: x\n\n", "eml"),
    (b"Subject: vuoto\n\n131052-308T\n", "eml"),
    (b"Date;Name;HETU\n1.1.2020;Matti;131052-308T\n", None),
    (b"Date: 2020\n1;Matti;131052-308T\n", None),
    (b"HTTP/1.1 200 OK\nContent-Type: text/html\n\n<html>", None),
    (b"Nimi: Matti\nHetu: 131052-308T\n", None),
    (b'{"From": "x"}', None),
    (b"From the start of the year\nwe have seen\n", None),
])
def test_what_is_mail(head: bytes, kind: str | None) -> None:
    assert mail.mail_kind(head) == kind


@pytest.mark.parametrize("task_bytes", [8 << 20, 16 << 10])
def test_a_mailbox_s_attachments_are_scanned_in_ranges_too(tmp_path, monkeypatch, task_bytes):  # noqa: ANN001
    """A mailbox over TASK_BYTES is scanned in ranges of its own bytes, then its decoded
    parts: the findings are those of a small one, for any jobs."""
    monkeypatch.setattr(sf, "TASK_BYTES", task_bytes)
    monkeypatch.setattr(sf, "RANGE_BYTES", 4 << 10)
    box = b"".join(b"From x Mon Dec  7 10:00:00 2026\n"
                   + _message(attachments={f"{k}.csv": CSV}).as_bytes() + b"\n"
                   for k in range(6))
    path = tmp_path / "inbox.mbox"
    path.write_bytes(box)
    index = build_index(KEY, PEOPLE, True)
    opts = ScanOptions(types=frozenset({"hetu", "email"}))
    scanner = Scanner(index, KEY, opts)
    for jobs in (1, 2):
        events = list(sf.scan_files([str(path)], index, KEY, opts, jobs=jobs))
        by_location: dict[str, list[Finding]] = {}
        for e in events:
            if isinstance(e, Finding):
                by_location.setdefault(e.location, []).append(e)
        for k in range(6):
            loc = f"{path}!msg:{k + 1}!{k}.csv"
            assert by_location[loc] == scanner.scan_text(CSV.decode(), loc, "csv")
        scanned = [e.location for e in events if isinstance(e, Scanned)]
        assert scanned[0] == str(path) and len(scanned) == 1 + 6 * 2


def test_a_hostile_message_is_reported_and_its_own_bytes_read() -> None:
    """Multiparts nested past what the parser can follow: the message's bytes are read,
    and that its parts could not be is said."""
    deep = b"From: a@b.example\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b0\n\n"
    for i in range(5000):
        deep += b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i, i + 1)
    deep += b"--b5000\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nMTMx\n"
    got = list(iter_members(deep, "deep.eml"))
    assert got[0] == Member("deep.eml", deep, None)
    assert [m.skipped_reason for m in got[1:]] == ["extraction failed: mail (RecursionError)"]
