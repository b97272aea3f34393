"""Legacy Office files (OLE2): Word .doc, PowerPoint .ppt and Outlook .msg are read.

They were "binary: ..., not extracted": a ransomware dump of a clinic's file share or
mailbox is full of them, and none of their text was read. The .doc and .ppt files are
LibreOffice's (tests/fixtures/legacy_office/make.py writes them); the messages and the
damaged files are built here (tests/support/cfb.py).
"""

from __future__ import annotations

import random
import struct
import time
import zlib
from pathlib import Path

import pytest

from tests.unit.test_documents import (
    HETU,
    ODF,
    SECRET,
    XML,
    W,
    _docx,
    _no_content_in_reasons,
    _office,
    _reasons,
    _texts,
    _xls,
)
from vahti.demo.synthetic import make_people
from vahti.matchers.archives import ArchiveLimits, Member, iter_members
from vahti.matchers.documents.cfb import compound_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_office"
PEOPLE = make_people(12, seed=41)  # as in make.py


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# -- Word ---------------------------------------------------------------------------------


def test_a_word_document_s_text_is_read_wherever_it_is() -> None:
    """Paragraphs, a table (a row a line), a footnote, the header and footer, a mailto
    link's address, a code written with Word's non-breaking hyphen, UTF-16 text."""
    got = list(iter_members(_fixture("potilaat.doc"), "lahete.doc"))
    assert not _reasons(got) and [m.text_from for m in got] == ["doc", "doc"]
    text = _texts(got)["lahete.doc"]
    p = PEOPLE
    # the title and subject (the summary information)
    assert _texts(got)["lahete.doc!properties"] == f"Lähete {p[0].full_name}\n{p[0].hetu}\n"
    for x in p[0:3]:
        assert f"Potilas {x.full_name}, henkilötunnus {x.hetu}, puh. {x.phone}.\n" in text
    assert f"{p[3].full_name} {p[3].hetu}\n" in text  # the non-breaking hyphen is "-"
    for x in p[4:8]:
        assert f"{x.full_name}\t{x.hetu}\t{x.email}\n" in text
    assert f"{p[8].full_name} {p[8].hetu}" in text  # the footnote
    assert f'"mailto:{p[9].email}"' in text
    assert f"Пациент {p[10].full_name} Ωμέγα {p[10].hetu}" in text
    assert f"Ylätunniste {p[11].hetu}" in text and f"Alatunniste {p[11].email}" in text
    assert not any(c in text for c in "\x07\x13\x14\x15\x1e\r")


def _word_file(pieces: list[tuple[str, bool]], n_fib: int = 0xC1, flags: int = 0x0200,
               text_length: int | None = None, streams: dict[str, bytes] | None = None) -> bytes:
    """A Word 97 document whose text is `pieces` (text, stored one byte a character),
    with the FIB, piece table and streams MS-DOC describes."""
    body = bytearray(b"\0" * 0x400)  # the FIB's room
    cps, descriptors = [0], []
    for text, compressed in pieces:
        if compressed:
            fc = (len(body) * 2) | 0x40000000
            body += text.encode("cp1252")
        else:
            fc = len(body)
            body += text.encode("utf-16-le")
        cps.append(cps[-1] + len(text))
        descriptors.append(struct.pack("<HIH", 0, fc, 0))
    plc = struct.pack(f"<{len(cps)}I", *cps) + b"".join(descriptors)
    clx = b"\x01" + struct.pack("<h", 3) + b"abc" + b"\x02" + struct.pack("<I", len(plc)) + plc
    table = bytes(16) + clx
    fib = bytearray(struct.pack("<HH", 0xA5EC, n_fib) + bytes(6) + struct.pack("<H", flags))
    fib += bytes(0x20 - len(fib))
    longs = [0] * 22
    longs[3] = cps[-1] if text_length is None else text_length
    pairs = [(0, 0)] * 93
    pairs[33] = (16, len(clx))
    fib += struct.pack("<H", 14) + bytes(28) + struct.pack("<H", 22)
    fib += struct.pack("<22i", *longs) + struct.pack("<H", 93)
    fib += b"".join(struct.pack("<II", *pair) for pair in pairs)
    body[: len(fib)] = fib
    return compound_file({"WordDocument": bytes(body), "1Table": table, **(streams or {})})


def test_pieces_of_one_byte_and_of_utf16_characters_are_read_in_order() -> None:
    """Word writes a piece one byte a character when all of it is in cp1252 (what
    LibreOffice does not do: the fixture's pieces are all UTF-16)."""
    data = _word_file([("Potilas Matti Meikäläinen 131052\x1e308T\r", True),
                       ("Пациент\x07040 1234567\x07\x07", False),
                       ("lo\x1fpuksi\x13 HYPERLINK \x14linkki\x15.\r", True)])
    assert _texts(list(iter_members(data, "w.doc"))) == {
        "w.doc": f"Potilas Matti Meikäläinen {HETU}\nПациент\t040 1234567\n"
                 "lopuksi  HYPERLINK  linkki .\n"}


def test_a_word_6_or_95_document_is_read_when_it_was_saved_whole() -> None:
    text = SECRET.encode("cp1252")
    stream = bytearray(0x300)
    stream[:4] = struct.pack("<HH", 0xA5EC, 0x65)
    stream[0x18:0x20] = struct.pack("<II", 0x300, 0x300 + len(text))
    whole = compound_file({"WordDocument": bytes(stream) + text})
    assert _texts(list(iter_members(whole, "w95.doc"))) == {"w95.doc": SECRET}
    stream[10] = 0x04  # fast-saved
    fast = compound_file({"WordDocument": bytes(stream) + text})
    assert _reasons(list(iter_members(fast, "w95.doc"))) == {
        "w95.doc": "unsupported: fast-saved Word 6/95 document (.doc), not extracted (save it "
                   "again to have it read)"}


def test_an_encrypted_word_document_says_so() -> None:
    for flags in (0x0300, 0x8200):  # encrypted, obfuscated
        got = list(iter_members(_word_file([(SECRET, True)], flags=flags), "salainen.doc"))
        assert _reasons(got) == {
            "salainen.doc": "encrypted: password-protected Word document (.doc)"}


SUMMARY = bytes.fromhex("e0859ff2f94f6810ab9108002b27b3d9")
CUSTOM = bytes.fromhex("05d5cdd59c2e1b10939708002b2cf9ae")


def _property_sets(sets: list[tuple[bytes, dict[int, tuple[int, bytes]]]],
                   count: int | None = None) -> bytes:
    """A property set stream (MS-OLEPS): each set's properties as (type, value bytes)."""
    head = struct.pack("<HHI", 0xFFFE, 0, 0) + bytes(16) + struct.pack("<I", len(sets))
    at = len(head) + 20 * len(sets)
    directory, blocks = b"", b""
    for fmtid, props in sets:
        values, ids = b"", []
        for pid, (kind, raw) in props.items():
            ids.append((pid, 8 + 8 * len(props) + len(values)))
            values += struct.pack("<H2x", kind) + raw + bytes(-len(raw) % 4)
        block = b"".join(struct.pack("<II", *x) for x in ids) + values
        n = len(props) if count is None else count
        block = struct.pack("<II", 8 + len(block), n) + block
        directory += fmtid + struct.pack("<I", at + len(blocks))
        blocks += block
    return head + directory + blocks


def _lpstr(text: str, codec: str) -> tuple[int, bytes]:
    raw = text.encode(codec) + b"\0"
    return 0x1E, struct.pack("<I", len(raw)) + raw


def test_a_word_document_s_properties_are_read_and_a_hostile_set_is_bounded() -> None:
    """Title (UTF-16), a custom property (cp1252); the template and the writing program
    are not read. A set that claims four billion properties costs no time."""
    title = "Lähete Matti Meikäläinen"
    summary = _property_sets([(SUMMARY, {
        1: (0x02, struct.pack("<H2x", 1252)),
        2: (0x1F, struct.pack("<I", len(title) + 1) + (title + "\0").encode("utf-16-le")),
        7: _lpstr("Normal.dot", "cp1252"), 18: _lpstr("Microsoft Word 8.0", "cp1252")})])
    custom = _property_sets([(CUSTOM, {1: (0x02, struct.pack("<H2x", 1252)),
                                       2: _lpstr(f"{HETU} Mäkelä", "cp1252")})])
    data = _word_file([("Hei\r", True)], streams={"\x05SummaryInformation": summary,
                                                  "\x05DocumentSummaryInformation": custom})
    assert _texts(list(iter_members(data, "k.doc"))) == {
        "k.doc": "Hei\n", "k.doc!properties": f"{title}\n{HETU} Mäkelä\n"}
    hostile = _property_sets([(SUMMARY, {2: _lpstr(title, "cp1252")})], count=0xFFFFFFFF)
    start = time.monotonic()
    got = list(iter_members(_word_file([("Hei\r", True)],
                                       streams={"\x05SummaryInformation": hostile}), "h.doc"))
    assert time.monotonic() - start < 5
    assert _texts(got)["h.doc"] == "Hei\n"
    _no_content_in_reasons(got)


# -- PowerPoint ---------------------------------------------------------------------------


def test_a_powerpoint_file_s_slides_and_notes_are_read() -> None:
    got = list(iter_members(_fixture("potilaat.ppt"), "lista.ppt"))
    assert not _reasons(got) and [m.text_from for m in got] == ["ppt", "ppt"]
    assert _texts(got)["lista.ppt!properties"] == (
        f"Potilaslista {PEOPLE[1].full_name}\n{PEOPLE[1].hetu}\n")
    text = _texts(got)["lista.ppt"]
    for x in PEOPLE[:11]:
        assert f"{x.full_name} {x.hetu} {x.email} {x.phone}\n" in text
    assert f"Muistiinpano: {PEOPLE[11].full_name} {PEOPLE[11].hetu}\n" in text  # the notes
    assert "Potilaslista 3 — Äänekoski\n" in text


def _record(kind: int, body: bytes, container: bool = False) -> bytes:
    return struct.pack("<HHI", 0xF if container else 0, kind, len(body)) + body


def test_every_kind_of_powerpoint_text_atom_is_read() -> None:
    """UTF-16 characters, one-byte characters and strings, inside nested containers;
    embedded objects (compressed or not) are read as inputs; an encrypted file is
    reported."""
    inner = (_record(0x0FA0, "Matti Meikäläinen\r131052-308T".encode("utf-16-le"))
             + _record(0x0FA8, "Liisa Mäkelä 040 1234567".encode("latin-1"))
             + _record(0x0FF5, b"\x00" * 7)  # a record of no text
             + _record(0x0FBA, "mailto:matti@example.fi".encode("utf-16-le")))
    stream = _record(0x03E8, _record(0x0FF0, inner, container=True), container=True)
    got = list(iter_members(compound_file({"PowerPoint Document": stream}), "p.ppt"))
    assert _texts(got) == {"p.ppt": f"Matti Meikäläinen\n{HETU}\nLiisa Mäkelä 040 1234567\n"
                                    "mailto:matti@example.fi\n"}
    # an embedded workbook: its storage as a compound file, zlib-compressed after its size
    book = _xls({"A": [[HETU]]})
    packed = struct.pack("<I", len(book)) + zlib.compress(book)
    objects = (struct.pack("<HHI", 1 << 4, 0x1011, len(packed)) + packed
               + struct.pack("<HHI", 0, 0x1011, len(book)) + book)
    got = list(iter_members(compound_file({"PowerPoint Document": stream + objects}), "o.ppt"))
    assert _texts(got)["o.ppt!object:1!sheet:A"] == _texts(got)["o.ppt!object:2!sheet:A"] == (
        f"{HETU}\n")
    crypted = compound_file({"PowerPoint Document": _record(0x2F14, b"\0" * 40, True)})
    assert _reasons(list(iter_members(crypted, "c.ppt"))) == {
        "c.ppt": "encrypted: password-protected PowerPoint file (.ppt)"}


# -- Outlook ------------------------------------------------------------------------------


def _prop(pid: int, value: str | bytes, kind: int | None = None) -> tuple[str, bytes]:
    if isinstance(value, str):
        kind = kind or 0x001F
        raw = value.encode("utf-16-le" if kind == 0x001F else "cp1252")
    else:
        kind, raw = 0x0102, value
    return f"__substg1.0_{pid:04X}{kind:04X}", raw


def _lzfu(rtf: bytes) -> bytes:
    """RTF compressed as LZFu with literals only, and its end marker (MS-OXRTFCP)."""
    out = bytearray()
    for k in range(0, len(rtf), 8):
        chunk = rtf[k:k + 8]
        out += b"\x00" + chunk
    end = (207 + len(rtf)) % 4096  # the window's write position: the end
    if len(rtf) % 8:
        out[-(len(rtf) % 8) - 1] |= 1 << (len(rtf) % 8)
        out += struct.pack(">H", end << 4)
    else:
        out += b"\x01" + struct.pack(">H", end << 4)
    return struct.pack("<IIII", len(out) + 12, len(rtf), 0x75465A4C, 0) + bytes(out)


def _message(people, attachments: dict[str, dict] | None = None) -> dict:  # noqa: ANN001
    a, b, c = people[:3]
    tree = dict([
        _prop(0x0037, f"Lähete: {a.full_name}"),
        _prop(0x1000, f"Hei,\r\npotilaan henkilötunnus on {a.hetu}.\r\n"),
        _prop(0x0C1A, b.full_name), _prop(0x0C1F, b.email, 0x001E),
        _prop(0x1013, f"<p>puh. <b>{a.phone}</b></p>".encode()),
        _prop(0x1009, _lzfu(f"{{\\rtf1\\ansi {c.full_name} {c.hetu}\\par}}".encode())),
    ])
    tree["__properties_version1.0"] = bytes(32)
    tree["__recip_version1.0_#00000000"] = dict([_prop(0x3001, c.full_name),
                                                 _prop(0x39FE, c.email)])
    for n, node in enumerate((attachments or {}).values()):
        tree[f"__attach_version1.0_#{n:08X}"] = node
    return tree


def _file_attachment(name: str, data: bytes) -> dict:
    return dict([_prop(0x3707, name), _prop(0x3701, data)])


def test_an_outlook_message_s_text_bodies_and_attachments_are_read() -> None:
    p = PEOPLE
    csv = "".join(f"{x.full_name};{x.hetu}\n" for x in p[3:6]).encode()
    nested = {**dict([_prop(0x3707, "Fwd.msg")]),
              "__substg1.0_3701000D": _message(p[6:9], {"a": _file_attachment(
                  "lausunto.txt", p[9].email.encode())})}
    ole_object = {**dict([_prop(0x3707, "kaavio.xls")]),
                  "__substg1.0_3701000D": _storage(_xls({"A": [[p[10].hetu]]}))}
    msg = compound_file(_message(p, {"csv": _file_attachment("potilaat.csv", csv),
                                     "fwd": nested, "ole": ole_object,
                                     "link": dict([_prop(0x3707, "linkki.url")])}))
    got = list(iter_members(msg, "viesti.msg"))
    texts = _texts(got)
    text = texts["viesti.msg"]
    for line in (f"Lähete: {p[0].full_name}", f"potilaan henkilötunnus on {p[0].hetu}.",
                 p[1].full_name, p[1].email, p[2].full_name, p[2].email, "potilaat.csv"):
        assert line in text
    assert texts["viesti.msg!body.html"] == f"<p>puh. <b>{p[0].phone}</b></p>"
    assert texts["viesti.msg!body.rtf"] == f"{p[2].full_name} {p[2].hetu}\n"
    assert texts["viesti.msg!potilaat.csv"] == csv.decode()
    assert p[6].hetu in texts["viesti.msg!Fwd.msg"]
    assert texts["viesti.msg!Fwd.msg!lausunto.txt"] == p[9].email
    assert [m.text_from for m in got if m.location == "viesti.msg"] == ["msg"]
    assert texts["viesti.msg!kaavio.xls!sheet:A"] == f"{p[10].hetu}\n"  # an OLE object
    assert _reasons(got) == {
        "viesti.msg!linkki.url": "unsupported: Outlook attachment without its data (a link "
                                 "or a reference to a file elsewhere)"}
    _no_content_in_reasons(got)


def test_messages_attached_to_messages_stop_at_the_depth_limit() -> None:
    tree = _message(PEOPLE)
    for _ in range(5):
        tree = _message(PEOPLE, {"m": {**dict([_prop(0x3707, "m.msg")]),
                                       "__substg1.0_3701000D": tree}})
    got = list(iter_members(compound_file(tree), "v.msg", ArchiveLimits(max_depth=3)))
    deepest = "v.msg" + "!m.msg" * 3
    assert _reasons(got)[deepest] == "archive bomb: nested deeper than 3 archives"
    assert f"v.msg{'!m.msg' * 2}" in _texts(got)


def test_the_lzfu_example_of_the_specification_decompresses() -> None:
    from vahti.matchers.documents.msg import decompress_rtf

    example = bytes.fromhex("2d0000002b0000004c5a4675f1c5c7a703000a0072637067313235423"
                            "20af32068656c090020627705b06c647d0a800fa0")
    assert decompress_rtf(example) == b"{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n"
    raw = b"{\\rtf1 " + SECRET.encode("cp1252") * 40 + b"}"
    assert decompress_rtf(_lzfu(raw)) == raw
    assert decompress_rtf(struct.pack("<IIII", len(raw) + 12, len(raw), 0x414C454D, 0)
                          + raw) == raw  # stored, not compressed


# -- embedded objects ----------------------------------------------------------------------


def _storage(compound: bytes) -> dict:
    """A compound file's streams and storages as a tree (to embed it as an object)."""
    import olefile

    from vahti.matchers.documents.ole import storage_tree

    with olefile.OleFileIO(compound) as ole:
        return storage_tree(ole, [])


def _native(name: str, data: bytes) -> bytes:
    """An Ole10Native stream of Object Packager: a file packaged into a document."""
    temp = f"C:\\Temp\\{name}\0".encode("cp1252")
    body = (b"\x02\x00" + name.encode("cp1252") + b"\0" + f"C:\\{name}".encode("cp1252")
            + b"\0" + b"\x00\x00\x03\x00" + struct.pack("<I", len(temp)) + temp
            + struct.pack("<I", len(data)) + data)
    return struct.pack("<I", len(body)) + body


def test_objects_embedded_in_documents_are_read() -> None:
    """A workbook, a packaged CSV file or a docx embedded in a Word document, a workbook
    or a Word file; they were never read."""
    p = PEOPLE
    csv = f"{p[0].full_name};{p[0].hetu}\n".encode()
    pool = {"ObjectPool": {
        "_1001": _storage(_xls({"Potilaat": [[p[1].full_name, p[1].hetu]]})),
        "_1002": {"\x01CompObj": b"\0" * 20, "\x01Ole10Native": _native("potilaat.csv", csv)},
        "_1003": {"Package": _docx(f"<w:p><w:r><w:t>{p[2].hetu}</w:t></w:r></w:p>")}}}
    doc = _word_file([("Liite:\r", True)], streams=pool)
    assert _texts(list(iter_members(doc, "w.doc"))) == {
        "w.doc": "Liite:\n",
        "w.doc!object:1!sheet:Potilaat": f"{p[1].full_name}\t{p[1].hetu}\n",
        "w.doc!object:2!potilaat.csv": csv.decode(),
        "w.doc!object:3": f"{p[2].hetu}\n\n"}
    book = compound_file({**_storage(_xls({"A": [["x"]]})),
                          "MBD0001": {"\x01Ole10Native": _native("lista.txt", csv)}})
    assert _texts(list(iter_members(book, "b.xls")))["b.xls!object:1!lista.txt"] == csv.decode()
    docx = _office({
        "word/document.xml": f"{XML}<w:document {W}><w:body/></w:document>",
        "word/embeddings/oleObject1.bin": compound_file(
            {"\x01Ole10Native": _native("potilaat.csv", csv)}),
        "word/embeddings/Microsoft_Excel_97-2003_Worksheet.xls": _xls({"A": [[p[3].hetu]]}),
        "word/media/image1.png": b"\x89PNG\r\n\x1a\n"})
    texts = _texts(list(iter_members(docx, "k.docx")))
    assert texts["k.docx!word/embeddings/oleObject1.bin!potilaat.csv"] == csv.decode()
    assert texts["k.docx!word/embeddings/Microsoft_Excel_97-2003_Worksheet.xls!sheet:A"] == (
        f"{p[3].hetu}\n")
    assert not any("media" in loc for loc in texts)  # (the document's own pictures)
    odt = _office({
        "mimetype": "application/vnd.oasis.opendocument.text",
        "content.xml": f"{XML}<office:document-content {ODF}><office:body><office:text>"
                       "<text:p>Kaavio</text:p></office:text></office:body>"
                       "</office:document-content>",
        "Object 1/content.xml": f"{XML}<office:document-content {ODF}><office:body>"
                                "<office:spreadsheet><table:table><table:table-row>"
                                f"<table:table-cell><text:p>{p[4].hetu}</text:p>"
                                "</table:table-cell></table:table-row></table:table>"
                                "</office:spreadsheet></office:body></office:document-content>",
        "Object 2": compound_file({"\x01Ole10Native": _native("a.csv", csv)})})
    texts = _texts(list(iter_members(odt, "a.odt")))
    assert texts["a.odt!Object 1"] == f"{p[4].hetu}\n\t\n"
    assert texts["a.odt!Object 2!a.csv"] == csv.decode()


# -- which OLE2 file is which, and what breaks ------------------------------------------


def test_an_ole2_file_is_told_by_the_streams_at_its_root() -> None:
    """An embedded object (a workbook in a Word file, a Word file in a workbook) does not
    make its container something else."""
    from vahti.matchers.documents.ole import ole2_kind, open_ole

    cases = {
        "doc": {"WordDocument": b"\0" * 10, "ObjectPool": {"_1": {"Workbook": b"\0"}}},
        "xls": {"Workbook": b"\0" * 10, "MBD0001": {"WordDocument": b"\0"}},
        "ppt": {"PowerPoint Document": b"\0" * 10},
        "msg": dict([_prop(0x0037, "x")]),
        "encrypted": {"EncryptedPackage": b"\0" * 10, "EncryptionInfo": b"\0"},
        "other": {"Contents": b"\0" * 10},
    }
    for kind, tree in cases.items():
        with open_ole(compound_file(tree), "ole2") as container:
            assert ole2_kind(container) == kind
    assert _reasons(list(iter_members(compound_file(cases["other"]), "x.bin"))) == {
        "x.bin": "binary: OLE2 file that is no Word, Excel, PowerPoint or Outlook file, not read"}
    broken = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(3000) + SECRET.encode("utf-16-le")
    (reason,) = _reasons(list(iter_members(broken, "rikki.msg"))).values()
    assert reason.startswith("extraction failed: ole2 (")


def _mutations(data: bytes, rng: random.Random, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        bad = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            bad[rng.randrange(0, len(bad))] = rng.randrange(256)
        out.append(bytes(bad))
    out += [data[: len(data) * k // 8] for k in range(1, 8)]  # cut short
    return out


@pytest.mark.parametrize("name", ["potilaat.doc", "potilaat.ppt", "viesti.msg"])
def test_a_damaged_file_gives_text_or_a_reason_and_never_its_content(name: str) -> None:
    if name == "viesti.msg":
        data = compound_file(_message(PEOPLE, {"a": _file_attachment("a.txt", SECRET.encode())}))
    else:
        data = _fixture(name)
    for bad in _mutations(data, random.Random(name), 150):
        members = list(iter_members(bad, name))
        assert members
        for m in members:
            assert (m.data is None) == (m.skipped_reason is not None)
            for x in PEOPLE:
                assert x.hetu not in (m.skipped_reason or "")
                assert x.last_name not in (m.skipped_reason or "")
    _no_content_in_reasons([Member(name, None, "x")])


def test_a_legacy_file_s_text_over_the_budget_is_cut_and_reported() -> None:
    for name in ("potilaat.doc", "potilaat.ppt"):
        got = list(iter_members(_fixture(name), name, ArchiveLimits(max_member_size=200)))
        assert _reasons(got)[name].startswith("too large: more than 200 characters")


# -- the people in them are found ----------------------------------------------------------


def test_the_people_in_legacy_office_files_are_found(tmp_path) -> None:
    from tests.support.index import synthetic_index
    from vahti.matchers.engine import Finding, Scanned, ScanOptions
    from vahti.matchers.keys import Key
    from vahti.matchers.scanfiles import scan_files

    key = Key(bytes(range(32)))
    doc = tmp_path / "lahete.doc"
    doc.write_bytes(_fixture("potilaat.doc"))
    ppt = tmp_path / "lista.ppt"
    ppt.write_bytes(_fixture("potilaat.ppt"))
    msg = tmp_path / "viesti.msg"
    csv = "".join(f"{x.full_name};{x.hetu}\n" for x in PEOPLE[3:6]).encode()
    msg.write_bytes(compound_file(_message(PEOPLE, {"a": _file_attachment("p.csv", csv)})))
    events = list(scan_files([str(doc), str(ppt), str(msg)], synthetic_index(key, PEOPLE), key,
                             ScanOptions()))
    found = {(f.location, f.id_type, f.ref) for f in events if isinstance(f, Finding)}
    hetus = {(loc, ref) for loc, t, ref in found if t == "hetu"}
    assert {ref for loc, ref in hetus if loc == str(doc)} == {
        x.ref for x in PEOPLE if x is not PEOPLE[9]}  # (the mailto link's person: an address)
    assert (str(doc), "email", PEOPLE[9].ref) in found
    assert {ref for loc, ref in hetus if loc == str(ppt)} == {x.ref for x in PEOPLE}
    assert {(loc, ref) for loc, ref in hetus if loc.startswith(str(msg))} == {
        (str(msg), PEOPLE[0].ref), (f"{msg}!body.rtf", PEOPLE[2].ref),
        *((f"{msg}!p.csv", x.ref) for x in PEOPLE[3:6])}
    emails = {ref for loc, t, ref in found if t == "email" and loc == str(ppt)}
    assert emails == {x.ref for x in PEOPLE[:11]}
    scanned = {e.location: e for e in events if isinstance(e, Scanned)}
    assert scanned[str(doc)].status == "ok" and scanned[str(doc)].encoding == "doc"


def test_a_damaged_body_or_attachment_loses_only_itself() -> None:
    """A body in an unknown compression is reported at its own location; the message's
    text and its other attachments are read."""
    tree = _message(PEOPLE, {"a": _file_attachment("a.txt", SECRET.encode())})
    tree["__substg1.0_10090102"] = struct.pack("<IIII", 12, 0, 0x12345678, 0)
    got = list(iter_members(compound_file(tree), "v.msg"))
    assert _reasons(got) == {"v.msg!body.rtf": "unsupported: Outlook RTF body compression"}
    assert _texts(got)["v.msg!a.txt"] == SECRET and PEOPLE[0].hetu in _texts(got)["v.msg"]


# -- TNEF (winmail.dat) ---------------------------------------------------------------------


def _attr(level: int, attr: int, data: bytes) -> bytes:
    checksum = struct.pack("<H", sum(data) & 0xFFFF)
    return struct.pack("<BII", level, attr, len(data)) + data + checksum


def _mapi(props: list[tuple[int, int, bytes]]) -> bytes:
    """A MAPI property list: (type, id, value) with strings and binaries as one value;
    ids from 0x8000 are named properties (by a number here)."""
    out = struct.pack("<I", len(props))
    for ptype, pid, value in props:
        out += struct.pack("<HH", ptype, pid)
        if pid >= 0x8000:
            out += bytes(16) + struct.pack("<II", 0, 0x8501)
        if ptype in (0x0003, 0x000B):
            out += value + bytes(-len(value) % 4)
        else:
            out += struct.pack("<II", 1, len(value)) + value + bytes(-len(value) % 4)
    return out


def _tnef(people, csv: bytes, nested: bytes | None = None) -> bytes:  # noqa: ANN001
    a, b, c = people[:3]
    out = b"\x78\x9f\x3e\x22" + struct.pack("<H", 0x1234)
    out += _attr(1, 0x00089006, struct.pack("<I", 0x00010000))
    out += _attr(1, 0x00018004, f"Lähete {a.full_name}\0".encode("cp1252"))
    out += _attr(1, 0x0001800C, f"Hetu {a.hetu}\r\n\0".encode("cp1252"))
    out += _attr(1, 0x00069003, _mapi([
        (0x0003, 0x0E07, struct.pack("<I", 1)),  # a number: passed over
        (0x001E, 0x0C1F, b.email.encode() + b"\0"),
        (0x001F, 0x8001, f"{b.full_name}\0".encode("utf-16-le")),  # a named property
        (0x0102, 0x1013, f"<p>{b.phone}</p>".encode()),
        (0x0102, 0x1009, _lzfu(f"{{\\rtf1 {c.full_name} {c.hetu}\\par}}".encode()))]))
    out += _attr(2, 0x00069002, bytes(14))
    out += _attr(2, 0x00018010, b"LISTA~1.CSV\0")
    out += _attr(2, 0x0006800F, csv)
    out += _attr(2, 0x00069005, _mapi([(0x001F, 0x3707, "potilaslista.csv\0".encode("utf-16-le"))]))
    if nested is not None:
        out += _attr(2, 0x00069002, bytes(14))
        out += _attr(2, 0x00018010, b"Fwd\0")
        out += _attr(2, 0x00069005, _mapi([(0x000D, 0x3701, bytes(16) + nested)]))
    return out


def test_a_winmail_dat_s_body_and_attachments_are_read() -> None:
    """Exchange sends a message's attachments to other mail systems inside one
    winmail.dat (TNEF): it was "binary", and none of them was read."""
    import email.message

    p = PEOPLE
    csv = "".join(f"{x.full_name};{x.hetu}\n" for x in p[3:6]).encode()
    inner = _tnef(p[6:9], f"{p[9].full_name};{p[9].hetu}\n".encode())
    mail = email.message.EmailMessage()
    mail["Subject"] = "Lähete"
    mail.set_content("Liitteenä.")
    mail.add_attachment(_tnef(p, csv, inner), maintype="application", subtype="ms-tnef",
                        filename="winmail.dat")
    got = list(iter_members(mail.as_bytes(), "viesti.eml"))
    texts = _texts(got)
    at = "viesti.eml!winmail.dat"
    for value in (p[0].full_name, p[0].hetu, p[1].email, p[1].full_name, "potilaslista.csv"):
        assert value in texts[at]
    assert texts[f"{at}!body.html"] == f"<p>{p[1].phone}</p>"
    assert texts[f"{at}!body.rtf"] == f"{p[2].full_name} {p[2].hetu}\n"
    assert texts[f"{at}!potilaslista.csv"] == csv.decode()
    assert p[6].hetu in texts[f"{at}!Fwd"]
    assert texts[f"{at}!Fwd!potilaslista.csv"] == f"{p[9].full_name};{p[9].hetu}\n"
    assert not _reasons(got)
    # damaged: cut anywhere, or bytes changed, it gives what it can and never its content
    whole = _tnef(p, csv, inner)
    rng = random.Random(5)
    for bad in [whole[:k] for k in range(0, len(whole), 7)] + _mutations(whole, rng, 300):
        members = list(iter_members(bad, "winmail.dat"))
        assert members
        _no_content_in_reasons(members)
        for m in members:
            assert all(x.hetu not in (m.skipped_reason or "") for x in p)


def test_an_embedded_object_that_cannot_be_read_is_reported(monkeypatch) -> None:
    """A damaged object in a Word file's ObjectPool: it is reported at its own location,
    and the objects after it are read (all of them were dropped without a word)."""
    from vahti.matchers.documents import ole

    pool = {"ObjectPool": {"_1": {"Package": b"broken"},
                           "_2": {"\x01Ole10Native": _native("a.csv", SECRET.encode())}}}
    doc = _word_file([("Liite:\r", True)], streams=pool)
    real = ole.object_bytes

    def damaged(container, storage):  # noqa: ANN001, ANN202
        if storage == ["ObjectPool", "_1"]:
            raise OSError("a broken sector chain")
        return real(container, storage)

    monkeypatch.setattr(ole, "object_bytes", damaged)
    got = list(iter_members(doc, "w.doc"))
    assert _reasons(got) == {"w.doc!object:1": "extraction failed: doc object (OSError)"}
    assert _texts(got)["w.doc!object:2!a.csv"] == SECRET
    _no_content_in_reasons(got)
