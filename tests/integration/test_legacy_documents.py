"""What was never read, read end to end: legacy Word and PowerPoint files, an Outlook
message and its attachments (one named after an identity code), a file attached to a
PDF, a document's properties, a SQL dump's hex blobs, a RAR archive (a member named after
an identity code), DICOM images, one of them damaged (pydicom's warnings quote values), a
PostgreSQL custom-format dump (a table and a large object), MongoDB dumps (a collection
file and an archive).
A real `vahti scan` against the real embedded database; then everything vahti wrote is
searched for the plaintext."""

from __future__ import annotations

import io
from pathlib import Path

import bson
import pypdf
import pytest

from tests.integration.test_hunt import enroll
from tests.integration.test_unread_inputs import found, pdf
from tests.privacy import assert_no_plaintext, everything_written
from tests.unit.pgdump_files import Dump, Table
from tests.unit.rar_files import rar5
from tests.unit.test_dicom import _dicom
from tests.unit.test_legacy_office import PEOPLE, _file_attachment, _fixture, _message
from tests.unit.test_mongo_dumps import archive
from vahti.matchers.documents.cfb import compound_file

pytestmark = pytest.mark.integration


def test_legacy_documents_attachments_blobs_rars_and_database_dumps_are_found(
        vahti, tmp_path: Path) -> None:
    enroll(vahti, tmp_path, PEOPLE)
    dump = tmp_path / "dump"
    dump.mkdir()
    p = PEOPLE
    (dump / "lahete.doc").write_bytes(_fixture("potilaat.doc"))
    (dump / "lista.ppt").write_bytes(_fixture("potilaat.ppt"))
    named = f"{p[5].hetu}.csv"  # a file named after its patient's code
    (dump / "viesti.msg").write_bytes(compound_file(_message(p, {
        "a": _file_attachment(named, f"{p[5].full_name};{p[5].email}\n".encode())})))
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(str(pdf(dump / "x.pdf", "Liite"))))
    writer.add_attachment("potilaat.csv", f"{p[6].full_name};{p[6].hetu}\n".encode())
    buf = io.BytesIO()
    writer.write(buf)
    (dump / "x.pdf").write_bytes(buf.getvalue())
    note = f"{p[7].full_name} {p[7].hetu}".encode()
    sql = b"INSERT INTO notes VALUES (1,0x" + note.hex().encode() + b");\n"
    (dump / "dump.sql").write_bytes(sql)
    (dump / "kuva.dcm").write_bytes(_dicom(p[10]))
    damaged = bytearray(_dicom(p[11]))
    damaged[damaged.index(b"\x08\x00\x18\x00UI") + 12] = 0xBD  # a UID pydicom warns of
    (dump / "rikki.dcm").write_bytes(bytes(damaged))
    in_rar = f"{p[8].hetu}.txt"
    (dump / "vuoto.rar").write_bytes(rar5([
        ("potilaat.csv", f"{p[3].full_name};{p[3].hetu}\n".encode()),
        (in_rar, f"{p[8].full_name} {p[8].email}\n".encode())]))
    (dump / "klinikka.dump").write_bytes(Dump(
        [Table("potilaat", ["nimi", "hetu"], f"{p[4].full_name}\t{p[4].hetu}\n".encode())],
        blobs={16401: f"{p[9].full_name} {p[9].email}\n".encode()}).write())
    (dump / "potilaat.bson").write_bytes(b"".join(
        bson.encode({"nimi": x.full_name, "hetu": x.hetu}) for x in (p[1], p[2])))
    (dump / "klinikka.archive").write_bytes(archive(
        {"klinikka.potilaat": [{"nimi": p[3].full_name, "email": p[3].email}]}))

    scanned = vahti.run("scan", str(dump), "--json", timeout=300)
    assert scanned.returncode == 1, scanned.stderr
    by_location, summary = found(scanned.stdout)
    assert summary is None, summary  # nothing unread
    refs = {x.ref for x in p}
    assert by_location[f"{dump}/lahete.doc"] == refs  # (P9 by the mailto link's address)
    assert by_location[f"{dump}/lahete.doc!properties"] == {p[0].ref}
    assert by_location[f"{dump}/lista.ppt"] == refs
    assert by_location[f"{dump}/viesti.msg"] >= {p[0].ref, p[1].ref, p[2].ref}
    attached = [loc for loc in by_location if loc.startswith(f"{dump}/viesti.msg![hetu:")]
    assert len(attached) == 1 and by_location[attached[0]] == {p[5].ref}  # its name: a token
    assert by_location[f"{dump}/x.pdf!potilaat.csv"] == {p[6].ref}
    assert by_location[f"{dump}/dump.sql!hex:{sql.index(b'0x') + 2}"] == {p[7].ref}
    assert by_location[f"{dump}/vuoto.rar!potilaat.csv"] == {p[3].ref}
    assert by_location[f"{dump}/klinikka.dump!public.potilaat"] == {p[4].ref}
    assert by_location[f"{dump}/klinikka.dump!blob:16401"] == {p[9].ref}
    assert by_location[f"{dump}/potilaat.bson"] == {p[1].ref, p[2].ref}
    assert by_location[f"{dump}/klinikka.archive!klinikka.potilaat"] == {p[3].ref}
    assert by_location[f"{dump}/kuva.dcm"] == {p[10].ref}
    assert by_location[f"{dump}/rikki.dcm"] == {p[11].ref}
    assert "Invalid value" not in scanned.stderr  # pydicom's warning, which quotes the value
    in_rar_found = [loc for loc in by_location if loc.startswith(f"{dump}/vuoto.rar![hetu:")]
    assert len(in_rar_found) == 1 and by_location[in_rar_found[0]] == {p[8].ref}

    plaintext = [v for x in p for v in (x.hetu, x.email, x.full_name)]
    assert_no_plaintext(everything_written(vahti, tmp_path / "db-dump",
                                           [("scan", scanned.stdout + scanned.stderr)]),
                        plaintext)
