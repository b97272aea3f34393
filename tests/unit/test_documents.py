"""Binary document formats become text members: SQLite, PDF, Office, OpenDocument.

Every document here is made by the real thing: sqlite3 writes the databases,
matplotlib's PDF backend and pypdf the PDFs, `zip -P` the ZipCrypto archives;
Office files are zips of the XML parts Word, Excel, PowerPoint and LibreOffice
write (the smallest sets those programs open).
"""

from __future__ import annotations

import io
import sqlite3
import subprocess
import zipfile
from pathlib import Path

import matplotlib
import py7zr
import pypdf

from vahti.matchers.archives import ArchiveLimits, Member, MiB, iter_members

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HETU = "131052-308T"
SECRET = f"Potilas Matti Meikäläinen {HETU} puh 040 1234567"


def _texts(members: list[Member]) -> dict[str, str]:
    return {m.location: m.data.decode() for m in members if m.data is not None}


def _reasons(members: list[Member]) -> dict[str, str]:
    return {m.location: m.skipped_reason for m in members if m.skipped_reason}


def _no_content_in_reasons(members: list[Member]) -> None:
    for m in members:
        assert (m.data is None) == (m.skipped_reason is not None)
        assert HETU not in (m.skipped_reason or "") and "Matti" not in (m.skipped_reason or "")


# -- SQLite ------------------------------------------------------------------------------


def _sqlite(path: Path, build) -> bytes:  # noqa: ANN001
    conn = sqlite3.connect(path)
    build(conn)
    conn.commit()
    conn.close()
    return path.read_bytes()


def _patients(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE visits (id INTEGER PRIMARY KEY, name TEXT, hetu TEXT, "
                 "phone INTEGER, note BLOB)")
    conn.execute("INSERT INTO visits VALUES (1, 'Matti', ?, 401234567, ?)",
                 (HETU, "käynti: uni huono".encode("cp1252")))
    conn.execute("INSERT INTO visits VALUES (2, 'Liisa', NULL, NULL, ?)",
                 (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",))
    conn.execute("CREATE TABLE \"odd name\" (x)")
    conn.execute("INSERT INTO \"odd name\" VALUES ('y')")
    conn.execute("CREATE VIEW everyone AS SELECT * FROM visits")


def test_sqlite_tables_become_text_members_nested_in_a_zip(tmp_path: Path) -> None:
    db = _sqlite(tmp_path / "patients.db", _patients)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("patients.db", db)
    got = list(iter_members(buf.getvalue(), "dump.zip"))
    texts = _texts(got)
    assert list(texts) == ["dump.zip!patients.db!table:visits",
                           "dump.zip!patients.db!table:odd name"]  # the view is not read
    visits = texts["dump.zip!patients.db!table:visits"]
    assert visits.splitlines() == ["id\tname\thetu\tphone\tnote",
                                   f"1\tMatti\t{HETU}\t401234567\tkäynti: uni huono",
                                   "2\tLiisa\t\t\t"]  # a binary blob has no text
    assert {m.text_from for m in got} == {"sqlite"}
    _no_content_in_reasons(got)


def test_sqlite_in_wal_mode_is_read(tmp_path: Path) -> None:
    def wal(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        _patients(conn)
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    got = list(iter_members(_sqlite(tmp_path / "w.db", wal), "w.db"))
    assert HETU in _texts(got)["w.db!table:visits"]


def test_sqlite_hostile_cell_fails_its_table_only(tmp_path: Path) -> None:
    """A generated column of a 1 GB zeroblob would allocate a gigabyte per row: the
    value length limit refuses it, the other tables are read."""
    def hostile(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE bomb (a, b AS (zeroblob(1000000000)) VIRTUAL)")
        conn.execute("INSERT INTO bomb (a) VALUES (1)")
        conn.execute("CREATE TABLE notes (t TEXT)")
        conn.execute("INSERT INTO notes VALUES (?)", (SECRET,))

    got = list(iter_members(_sqlite(tmp_path / "h.db", hostile), "h.db"))
    assert _reasons(got)["h.db!table:bomb"].startswith("extraction failed: sqlite (")
    assert SECRET in _texts(got)["h.db!table:notes"]


def test_sqlite_time_limit(tmp_path: Path) -> None:
    def big(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE t (x TEXT)")
        conn.executemany("INSERT INTO t VALUES (?)", ((f"row {i}",) for i in range(200_000)))

    got = list(iter_members(_sqlite(tmp_path / "t.db", big), "t.db",
                            ArchiveLimits(document_timeout_s=0.001)))
    assert _reasons(got) == {"t.db": "time limit: SQLite text extraction over 0.001 s"}


def test_sqlite_tables_count_as_members(tmp_path: Path) -> None:
    def many(conn: sqlite3.Connection) -> None:
        for i in range(30):
            conn.execute(f"CREATE TABLE t{i:02d} (x)")

    got = list(iter_members(_sqlite(tmp_path / "m.db", many), "m.db",
                            ArchiveLimits(max_members=10)))
    assert len(_texts(got)) == 10
    assert _reasons(got) == {"m.db": "too many members: more than 10 in one input "
                                     "(the rest was not read)"}


def test_damaged_sqlite_is_reported() -> None:
    got = list(iter_members(b"SQLite format 3\x00" + b"\xff" * 200, "bad.db"))
    assert _reasons(got) == {"bad.db": "extraction failed: sqlite (DatabaseError)"}


# -- PDF ---------------------------------------------------------------------------------


def _pdf(text: str) -> bytes:
    fig = plt.figure()
    fig.text(0.05, 0.5, text)
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf")
    plt.close(fig)
    return buf.getvalue()


def _encrypted_pdf(text: str, password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(_pdf(text))))
    writer.encrypt(password, algorithm="AES-256")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_pdf_text_is_the_member() -> None:
    got = list(iter_members(_pdf(SECRET), "report.pdf"))
    assert [(m.location, m.text_from) for m in got] == [("report.pdf", "pdf")]
    assert SECRET in _texts(got)["report.pdf"]


def test_encrypted_pdf_is_reported_or_opened_with_a_password() -> None:
    data = _encrypted_pdf(SECRET, "kissa123")
    got = list(iter_members(data, "locked.pdf"))
    assert _reasons(got) == {"locked.pdf": "encrypted: password-protected PDF"}
    got = list(iter_members(data, "locked.pdf", ArchiveLimits(passwords=("wrong", "kissa123"))))
    assert SECRET in _texts(got)["locked.pdf"]


def test_broken_and_slow_pdfs_are_reported() -> None:
    got = list(iter_members(b"%PDF-1.7\n" + b"\x00garbage" * 100, "bad.pdf"))
    assert _reasons(got)["bad.pdf"].startswith("extraction failed: pdf (")
    got = list(iter_members(_pdf(SECRET), "slow.pdf", ArchiveLimits(document_timeout_s=0.01)))
    assert _reasons(got) == {"slow.pdf": "time limit: PDF text extraction over 0.01 s"}
    _no_content_in_reasons(got)


def _pdf_pages(pages: list[str | None]) -> bytes:
    """A PDF of pages of text, or (None) of a picture only, as a scanner makes them."""
    import numpy as np
    from matplotlib.backends.backend_pdf import PdfPages

    buf = io.BytesIO()
    with PdfPages(buf) as pdf:
        for text in pages:
            fig = plt.figure()
            if text is None:
                fig.figimage(np.random.default_rng(1).random((60, 80)), cmap="gray")
            else:
                fig.text(0.05, 0.5, text)
            pdf.savefig(fig)
            plt.close(fig)
    return buf.getvalue()


def _pdf_with_extras(pdf: bytes, title: str, field_value: str, link: str) -> bytes:
    """`pdf` with a title and an author, a filled-in text field and a link."""
    from pypdf.annotations import Link
    from pypdf.generic import (
        ArrayObject,
        DictionaryObject,
        FloatObject,
        NameObject,
        TextStringObject,
    )

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf)))
    writer.add_metadata({"/Title": title, "/Author": "Liisa Lääkäri"})
    writer.add_annotation(0, Link(rect=(10, 10, 100, 30), url=link))
    field = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Widget"),
        NameObject("/FT"): NameObject("/Tx"), NameObject("/T"): TextStringObject("hetu"),
        NameObject("/V"): TextStringObject(field_value),
        NameObject("/Rect"): ArrayObject([FloatObject(v) for v in (10, 50, 200, 70)])}))
    writer.pages[0][NameObject("/Annots")].append(field)
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject(
        {NameObject("/Fields"): ArrayObject([field])})
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_what_no_page_of_a_pdf_shows_is_read() -> None:
    """A PDF's title (a referral's is often the patient's name and code), a filled-in
    form's values and its links' targets are in no page's text: they were never read."""
    data = _pdf_with_extras(_pdf("Lähete"), f"Lähete Matti Meikäläinen {HETU}", HETU,
                            "mailto:matti.meikalainen@example.fi")
    got = list(iter_members(data, "lahete.pdf"))
    assert _texts(got) == {
        "lahete.pdf": "Lähete",
        "lahete.pdf!properties": f"Lähete Matti Meikäläinen {HETU}\nLiisa Lääkäri\n",
        "lahete.pdf!form": f"hetu\t{HETU}\n",
        "lahete.pdf!links": "mailto:matti.meikalainen@example.fi\n"}
    # a scan's pages are not read, but its title is
    scan = _pdf_with_extras(_pdf_pages([None]), f"Matti Meikäläinen {HETU}", "", "https://x/")
    got = list(iter_members(scan, "scan.pdf"))
    assert set(_reasons(got)) == {"scan.pdf"}
    assert _texts(got)["scan.pdf!properties"].startswith(f"Matti Meikäläinen {HETU}")


def test_files_attached_to_a_pdf_are_read() -> None:
    """A PDF carries files: in its embedded-files list (a PDF portfolio) and as
    attachment annotations on a page. Each is an input of its own (never read before)."""
    from pypdf.generic import (
        ArrayObject,
        DecodedStreamObject,
        DictionaryObject,
        FloatObject,
        NameObject,
        TextStringObject,
    )

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(_pdf("Liitteet"))))
    writer.add_attachment("potilaat.csv", f"Matti Meikäläinen;{HETU}\n".encode())
    stream = DecodedStreamObject()
    stream.set_data(SECRET.encode())
    stream[NameObject("/Type")] = NameObject("/EmbeddedFile")
    spec = DictionaryObject({NameObject("/Type"): NameObject("/Filespec"),
                             NameObject("/F"): TextStringObject("C:\\temp\\liite!1.txt"),
                             NameObject("/EF"): DictionaryObject(
                                 {NameObject("/F"): writer._add_object(stream)})})
    annot = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Annot"),
        NameObject("/Subtype"): NameObject("/FileAttachment"),
        NameObject("/FS"): writer._add_object(spec),
        NameObject("/Rect"): ArrayObject([FloatObject(v) for v in (10, 10, 30, 30)])}))
    writer.pages[0][NameObject("/Annots")] = ArrayObject([annot])
    buf = io.BytesIO()
    writer.write(buf)
    got = list(iter_members(buf.getvalue(), "l.pdf"))
    assert _texts(got) == {"l.pdf": "Liitteet",
                           "l.pdf!potilaat.csv": f"Matti Meikäläinen;{HETU}\n",
                           "l.pdf!liite_1.txt": SECRET}
    small = list(iter_members(buf.getvalue(), "l.pdf", ArchiveLimits(max_member_size=30)))
    assert _reasons(small)["l.pdf!liite_1.txt"].startswith("too large: files attached")
    _no_content_in_reasons(small)
    # each under the limit, both over it: the child holds them all at once
    both = list(iter_members(buf.getvalue(), "l.pdf", ArchiveLimits(max_member_size=60)))
    assert _texts(both)["l.pdf!potilaat.csv"] == f"Matti Meikäläinen;{HETU}\n"
    assert _reasons(both) == {"l.pdf!liite_1.txt": "too large: files attached to a PDF over "
                                                   "60 bytes in all"}


def test_a_scanned_pdf_says_its_pages_were_not_read() -> None:
    """A scanned referral letter is pictures of pages, with no text to extract: it was
    "Scanned ok", and nothing of it had been read. Its pages of pictures are reported."""
    got = list(iter_members(_pdf_pages([None, None]), "lahete.pdf"))
    assert _reasons(got) == {"lahete.pdf": "binary: PDF pages that are pictures without text "
                                           "(a scan?), 2 of 2: not read (no OCR)"}
    assert _texts(got) == {}
    mixed = list(iter_members(_pdf_pages([SECRET, None, SECRET]), "liite.pdf"))
    assert SECRET in _texts(mixed)["liite.pdf"]
    assert _reasons(mixed) == {"liite.pdf!pictures": "binary: PDF pages that are pictures "
                                                     "without text (a scan?), 1 of 3: not "
                                                     "read (no OCR)"}
    assert _reasons(list(iter_members(_pdf_pages([SECRET, ""]), "tyhja.pdf"))) == {}


def _pdf_with_glyph_page(pdf: bytes, text: str) -> bytes:
    """`pdf` and a page of `text` in a font without a Unicode map, as some print drivers
    write it: a subset TrueType font (Identity-H, no /ToUnicode) whose glyph numbers are
    the standard order's (space 3, "A" 36: a character's code less 29)."""
    from pypdf.generic import (
        ArrayObject,
        DecodedStreamObject,
        DictionaryObject,
        NameObject,
        NumberObject,
        TextStringObject,
    )

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf)))
    page = writer.add_blank_page(595, 842)
    n = NameObject
    cid = DictionaryObject({
        n("/Type"): n("/Font"), n("/Subtype"): n("/CIDFontType2"),
        n("/BaseFont"): n("/ABCDEF+Calibri"),
        n("/CIDSystemInfo"): DictionaryObject({
            n("/Registry"): TextStringObject("Adobe"),
            n("/Ordering"): TextStringObject("Identity"), n("/Supplement"): NumberObject(0)})})
    font = DictionaryObject({
        n("/Type"): n("/Font"), n("/Subtype"): n("/Type0"), n("/BaseFont"): n("/ABCDEF+Calibri"),
        n("/Encoding"): n("/Identity-H"),
        n("/DescendantFonts"): ArrayObject([writer._add_object(cid)])})
    page[n("/Resources")] = DictionaryObject({
        n("/Font"): DictionaryObject({n("/F1"): writer._add_object(font)})})
    glyphs = "".join(f"{ord(c) - 29:04X}" for c in text)
    content = DecodedStreamObject()
    content.set_data(f"BT /F1 11 Tf 72 700 Td <{glyphs}> Tj ET".encode())
    page[n("/Contents")] = writer._add_object(content)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_a_pdf_page_in_a_font_without_a_unicode_map_says_it_was_not_read() -> None:
    """Its "text" is the font's glyph numbers (control characters and shifted letters):
    the page was "Scanned ok" with the people on it unread."""
    prose = "Potilas Matti Meikalainen, henkilotunnus 131052-308T, kavi vastaanotolla."
    got = list(iter_members(_pdf_with_glyph_page(_pdf(SECRET), prose), "lahete.pdf"))
    assert SECRET in _texts(got)["lahete.pdf"]
    assert _reasons(got) == {"lahete.pdf!glyphs": (
        "binary: PDF pages whose text is glyph numbers, not letters (a font without a "
        "Unicode map), 1 of 2: not read")}


def test_pdf_text_over_the_budget_is_cut_and_reported() -> None:
    got = list(iter_members(_pdf(SECRET), "big.pdf", ArchiveLimits(max_member_size=20)))
    assert _reasons(got)["big.pdf"].startswith("too large: more than 20 characters")


# -- Office Open XML and OpenDocument ----------------------------------------------------

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
S = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
A = 'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"'
P = 'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"'
ODF = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
       'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
       'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"')
XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def _office(parts: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        if "mimetype" in parts:  # ODF: first and stored
            zf.writestr("mimetype", parts["mimetype"], compress_type=zipfile.ZIP_STORED)
        else:
            zf.writestr("[Content_Types].xml", XML + "<Types/>")
        for name, data in parts.items():
            if name != "mimetype":
                zf.writestr(name, data)
    return buf.getvalue()


def _docx(body: str) -> bytes:
    return _office({"word/document.xml": f"{XML}<w:document {W}><w:body>{body}</w:body>"
                                         "</w:document>"})


def test_docx_runs_are_joined_into_words() -> None:
    """Word splits a code across formatting runs; the text joins them again."""
    body = ("<w:p><w:r><w:t>Potilas Matti</w:t></w:r><w:r><w:tab/></w:r>"
            "<w:r><w:rPr><w:b/></w:rPr><w:t>131052-</w:t></w:r><w:r><w:t>308T</w:t></w:r></w:p>"
            "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>puh</w:t></w:r></w:p></w:tc>"
            "<w:tc><w:p><w:r><w:t xml:space=\"preserve\">040 1234567</w:t></w:r></w:p></w:tc>"
            "</w:tr></w:tbl>")
    got = list(iter_members(_docx(body), "notes.docx"))
    assert [(m.location, m.text_from) for m in got] == [("notes.docx", "docx")]
    text = _texts(got)["notes.docx"]
    assert f"Potilas Matti\t{HETU}\n" in text and "040 1234567" in text


def test_xlsx_sheets_with_shared_strings_and_numbers() -> None:
    shared = (f"{XML}<sst {S} count=\"3\"><si><t>nimi</t></si><si><t>Matti</t></si>"
              f"<si><r><t>131052-</t></r><r><t>308T</t></r><rPh><t>ignored</t></rPh></si></sst>")
    sheet = (f"{XML}<worksheet {S}><sheetData>"
             "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c></row>"
             "<row r=\"2\"><c r=\"A2\" t=\"s\"><v>1</v></c><c r=\"B2\" t=\"s\"><v>2</v></c>"
             "<c r=\"C2\"><v>401234567</v></c>"
             "<c r=\"D2\" t=\"inlineStr\"><is><t>inline text</t></is></c></row>"
             "</sheetData></worksheet>")
    data = _office({
        "xl/workbook.xml": f"{XML}<workbook {S} {R}><sheets>"
                           "<sheet name=\"Potilaat\" sheetId=\"1\" r:id=\"rId1\"/>"
                           "<sheet name=\"Tyhjä\" sheetId=\"2\" r:id=\"rId2\"/>"
                           "</sheets></workbook>",
        "xl/_rels/workbook.xml.rels":
            f"{XML}<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/"
            "relationships\"><Relationship Id=\"rId1\" Target=\"worksheets/sheet1.xml\"/>"
            "<Relationship Id=\"rId2\" Target=\"/xl/worksheets/sheet2.xml\"/></Relationships>",
        "xl/sharedStrings.xml": shared,
        "xl/worksheets/sheet1.xml": sheet,
        "xl/worksheets/sheet2.xml": f"{XML}<worksheet {S}><sheetData/></worksheet>",
    })
    got = list(iter_members(data, "book.xlsx"))
    texts = _texts(got)
    assert list(texts) == ["book.xlsx!sheet:Potilaat", "book.xlsx!sheet:Tyhjä"]
    assert texts["book.xlsx!sheet:Potilaat"].splitlines() == [
        "nimi\t", f"Matti\t{HETU}\t401234567\tinline text\t"]


def test_pptx_slides_in_order() -> None:
    def slide(text: str) -> str:
        return (f"{XML}<p:sld {P} {A}><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>{text}"
                "</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>")
    data = _office({"ppt/presentation.xml": f"{XML}<p:presentation {P}/>",
                    "ppt/slides/slide10.xml": slide("ten"), "ppt/slides/slide2.xml": slide(HETU)})
    assert _texts(list(iter_members(data, "deck.pptx")))["deck.pptx"].split() == [HETU, "ten"]


def test_odt_and_ods() -> None:
    odt = _office({
        "mimetype": "application/vnd.oasis.opendocument.text",
        "content.xml": f"{XML}<office:document-content {ODF}><office:body><office:text>"
                       f"<text:p>Potilas<text:s/>Matti <text:span>131052-</text:span>308T</text:p>"
                       "</office:text></office:body></office:document-content>",
    })
    assert f"Potilas Matti {HETU}" in _texts(list(iter_members(odt, "a.odt")))["a.odt"]
    ods = _office({
        "mimetype": "application/vnd.oasis.opendocument.spreadsheet",
        "content.xml": f"{XML}<office:document-content {ODF}><office:body><office:spreadsheet>"
                       "<table:table table:name=\"Käynnit\"><table:table-row>"
                       "<table:table-cell><text:p>Matti</text:p></table:table-cell>"
                       f"<table:table-cell><text:p>{HETU}</text:p></table:table-cell>"
                       "<table:table-cell table:number-columns-repeated=\"16000\"/>"
                       "</table:table-row></table:table></office:spreadsheet></office:body>"
                       "</office:document-content>",
    })
    texts = _texts(list(iter_members(ods, "b.ods")))
    assert list(texts) == ["b.ods!sheet:Käynnit"]
    assert texts["b.ods!sheet:Käynnit"].startswith(f"Matti\t\t{HETU}\t\t")
    assert len(texts["b.ods!sheet:Käynnit"]) < 100  # repeated empty cells are not expanded


RELS = 'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"'
CORE = ('xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"')


def test_what_an_office_document_does_not_show_is_read() -> None:
    """Its properties (Word's title is often the letter's patient), a link's target (a
    mailto link shows a name), a cell's or a slide's comment: none was ever read."""
    email = "matti.meikalainen@example.fi"
    core = (f"{XML}<cp:coreProperties {CORE}><dc:title>Lähete Matti Meikäläinen</dc:title>"
            f"<dc:subject>{HETU}</dc:subject><dc:creator>Liisa</dc:creator>"
            "<dcterms:created>2026-01-02T03:04:05Z</dcterms:created>"
            "<cp:revision>3</cp:revision></cp:coreProperties>")
    app = (f"{XML}<Properties><Application>Microsoft Office Word</Application><Pages>2</Pages>"
           "<Company>Terapiakeskus Oy</Company></Properties>")
    custom = (f"{XML}<Properties><property name=\"Potilas\"><lpwstr>040 1234567</lpwstr>"
              "</property></Properties>")
    link = (f"{XML}<Relationships {RELS}><Relationship Id=\"rId9\" Target=\"mailto:{email}\" "
            "TargetMode=\"External\"/><Relationship Id=\"rId1\" Target=\"styles.xml\"/>"
            "</Relationships>")
    docx = _office({"word/document.xml": f"{XML}<w:document {W}><w:body><w:p><w:r><w:t>Hei"
                                         "</w:t></w:r></w:p></w:body></w:document>",
                    "docProps/core.xml": core, "docProps/app.xml": app,
                    "docProps/custom.xml": custom, "word/_rels/document.xml.rels": link})
    assert _texts(list(iter_members(docx, "kirje.docx"))) == {
        "kirje.docx": "Hei\n\n",
        "kirje.docx!links": f"mailto:{email}\n",
        "kirje.docx!properties": f"Lähete Matti Meikäläinen\n{HETU}\nLiisa\n040 1234567\n"
                                 "Terapiakeskus Oy\n"}
    sheet = f"{XML}<worksheet {S}><sheetData/></worksheet>"
    xlsx = _office({
        "xl/workbook.xml": f"{XML}<workbook {S}><sheets/></workbook>",
        "xl/worksheets/sheet1.xml": sheet,
        "xl/comments1.xml": f"{XML}<comments {S}><authors><author>Liisa</author></authors>"
                            f"<commentList><comment ref=\"A1\"><text><r><t>hetu {HETU}</t></r>"
                            "</text></comment></commentList></comments>",
        "xl/threadedComments/threadedComment1.xml":
            f"{XML}<ThreadedComments><threadedComment><text>{email}</text></threadedComment>"
            "</ThreadedComments>"})
    texts = _texts(list(iter_members(xlsx, "t.xlsx")))
    assert texts["t.xlsx!comments"] == f"hetu {HETU}\n{email}\n"
    pptx = _office({"ppt/presentation.xml": f"{XML}<p:presentation {P}/>",
                    "ppt/comments/comment1.xml": f"{XML}<p:cmLst {P}><p:cm><p:text>{HETU}"
                                                 "</p:text></p:cm></p:cmLst>"})
    assert _texts(list(iter_members(pptx, "d.pptx")))["d.pptx!comments"] == f"{HETU}\n"
    odt = _office({
        "mimetype": "application/vnd.oasis.opendocument.text",
        "meta.xml": f"{XML}<office:document-meta {ODF} xmlns:dc=\"http://purl.org/dc/elements/"
                    "1.1/\" xmlns:meta=\"urn:oasis:names:tc:opendocument:xmlns:meta:1.0\">"
                    "<office:meta><meta:generator>LibreOffice/7.4</meta:generator>"
                    f"<dc:title>{HETU}</dc:title><dc:date>2026-01-02T03:04:05</dc:date>"
                    "<meta:user-defined meta:name=\"puh\">040 1234567</meta:user-defined>"
                    "</office:meta></office:document-meta>",
        "content.xml": f"{XML}<office:document-content {ODF} xmlns:xlink=\"http://www.w3.org/"
                       "1999/xlink\"><office:body><office:text><text:p><text:a xlink:href="
                       f"\"mailto:{email}\">Matti</text:a> <text:a xlink:href=\"#kohta\">x"
                       "</text:a></text:p></office:text></office:body></office:document-content>"})
    assert _texts(list(iter_members(odt, "a.odt"))) == {
        "a.odt": "Matti x\n", "a.odt!links": f"mailto:{email}\n",
        "a.odt!properties": f"{HETU}\n040 1234567\n"}


def test_an_office_document_of_pictures_says_they_were_not_read() -> None:
    """Scanned pages pasted into a Word file, photos of papers in a presentation: the
    text is in the pictures, and the document was "Scanned ok" with nothing read."""
    def body(text: str) -> str:
        return (f"{XML}<w:document {W}><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p>"
                "</w:body></w:document>")
    jpeg = b"\xff\xd8\xff\xe0" + bytes(100)
    scan = _office({"word/document.xml": body("Sivu 1"), "word/media/image1.jpeg": jpeg,
                    "word/media/image2.png": b"\x89PNG" + bytes(50)})
    assert _reasons(list(iter_members(scan, "lahete.docx"))) == {
        "lahete.docx": "binary: docx of pictures without text (a scan?), 2 pictures: not "
                       "read (no OCR)"}
    typed = _office({"word/document.xml": body(SECRET), "word/media/image1.jpeg": jpeg})
    assert _texts(list(iter_members(typed, "kirje.docx"))) == {"kirje.docx": SECRET + "\n\n"}
    deck = _office({"ppt/presentation.xml": f"{XML}<p:presentation {P}/>",
                    "ppt/media/image3.jpg": jpeg})
    assert _reasons(list(iter_members(deck, "kuvat.pptx")))["kuvat.pptx"].startswith(
        "binary: pptx of pictures without text (a scan?), 1 picture:")
    odt = _office({"mimetype": "application/vnd.oasis.opendocument.text",
                   "content.xml": f"{XML}<office:document-content {ODF}><office:body>"
                                  "<office:text/></office:body></office:document-content>",
                   "Pictures/1000000.jpg": jpeg})
    assert _reasons(list(iter_members(odt, "s.odt")))["s.odt"].startswith("binary: odt of")


def test_office_xml_with_a_dtd_is_refused() -> None:
    """Billion laughs and external entities both need a DTD: none is accepted."""
    laughs = ('<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY a "aaaaaaaaaa">'
              '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
              f'<w:document {W}><w:body><w:p><w:r><w:t>&b;</w:t></w:r></w:p></w:body>'
              '</w:document>')
    external = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                f'<w:document {W}><w:body><w:p><w:r><w:t>&x;</w:t></w:r></w:p></w:body>'
                '</w:document>')
    for xml in (laughs, external):
        got = list(iter_members(_office({"word/document.xml": xml}), "evil.docx"))
        assert _reasons(got) == {"evil.docx": "extraction failed: docx (DTD refused)"}


def test_office_zip_bomb_is_stopped_by_the_archive_limits() -> None:
    body = "<w:p><w:r><w:t>" + " " * (30 * MiB) + "</w:t></w:r></w:p>"
    got = list(iter_members(_docx(body), "bomb.docx"))
    assert _reasons(got) == {"bomb.docx": "archive bomb: compression ratio over 100"}


def test_encrypted_office_documents_are_reported() -> None:
    from vahti.matchers.documents.cfb import compound_file

    ole2 = compound_file({"EncryptionInfo": b"\0" * 100, "EncryptedPackage": b"\0" * 5000})
    assert _reasons(list(iter_members(ole2, "locked.xlsx"))) == {
        "locked.xlsx": "encrypted: password-protected Office document"}
    legacy = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2000  # no container inside
    assert _reasons(list(iter_members(legacy, "old.doc")))["old.doc"].startswith(
        "extraction failed: ole2 (")
    odt = _office({"mimetype": "application/vnd.oasis.opendocument.text",
                   "content.xml": b"\x8f\x01 encrypted bytes",
                   "META-INF/manifest.xml": "<manifest:encryption-data/>"})
    assert _reasons(list(iter_members(odt, "locked.odt"))) == {
        "locked.odt": "encrypted: password-protected OpenDocument"}


# -- passwords for zip and 7z ------------------------------------------------------------


def test_zipcrypto_members_open_with_a_password_from_the_list(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text(SECRET)
    subprocess.run(["zip", "-q", "-P", "salasana", "locked.zip", "notes.txt"], cwd=tmp_path,
                   check=True)
    data = (tmp_path / "locked.zip").read_bytes()
    assert _reasons(list(iter_members(data, "l.zip"))) == {
        "l.zip!notes.txt": "encrypted: password-protected member"}
    got = list(iter_members(data, "l.zip", ArchiveLimits(passwords=("wrong", "salasana"))))
    assert _texts(got) == {"l.zip!notes.txt": SECRET}
    got = list(iter_members(data, "l.zip", ArchiveLimits(passwords=("nope",))))
    assert _reasons(got) == {"l.zip!notes.txt": "encrypted: password-protected member "
                                                "(no password of the password file fits)"}


def test_7z_opens_with_a_password_from_the_list() -> None:
    for header_encryption in (False, True):
        buf = io.BytesIO()
        with py7zr.SevenZipFile(buf, "w", password="salasana",
                                header_encryption=header_encryption) as sz:
            sz.writestr(SECRET.encode(), "a.txt")
            sz.writestr(b"second", "b.txt")
        limits = ArchiveLimits(passwords=("wrong", "salasana"))
        got = list(iter_members(buf.getvalue(), "e.7z", limits))
        assert _texts(got) == {"e.7z!a.txt": SECRET, "e.7z!b.txt": "second"}
        got = list(iter_members(buf.getvalue(), "e.7z", ArchiveLimits(passwords=("nope",))))
        assert _reasons(got) == {"e.7z": "encrypted: password-protected archive "
                                         "(no password of the password file fits)"}


# -- RTF ---------------------------------------------------------------------------------
# Clinical notes are often RTF: what record systems and WordPad export. Its letters over
# 0x7F are escapes (\'e4 for "ä", \u8364? for "€"), its lines control words (\par): read
# as plain text, "Meikäläinen" was "Meik\'e4l\'e4inen" and a note excerpt with such
# letters matched nothing.

def _rtf_escaped(text: str) -> str:
    out = []
    for ch in text:
        if ch == "\n":
            out.append("\\par\n")
        elif ord(ch) < 128:
            out.append(ch)
        elif ord(ch) < 256:
            out.append(f"\\'{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch) if ord(ch) < 32768 else ord(ch) - 65536}?")
    return "".join(out)


def _rtf(body: str) -> bytes:
    """As WordPad writes it: tables of fonts and colours, a generator, a picture."""
    return ("{\\rtf1\\ansi\\ansicpg1252\\deff0\\nouicompat\\deflang1035"
            "{\\fonttbl{\\f0\\fnil\\fcharset0 Calibri;}{\\f1\\fswiss Arial;}}\n"
            "{\\colortbl ;\\red0\\green0\\blue255;}\n"
            "{\\*\\generator Riched20 10.0.19041}\\viewkind4\\uc1 \n"
            "\\pard\\sa200\\sl276\\slmult1\\f0\\fs22\\lang11 "
            + _rtf_escaped(body)
            + "{\\pict\\wmetafile8\\picw26\\pich26 010009000003131052308000}\n"
            "}\n").encode("ascii")


def test_rtf_text_is_the_member() -> None:
    body = f"{SECRET}\nMuistiinpano: ääni \u2013 hyvä \u20ac\n"
    got = list(iter_members(_rtf(body), "note.rtf"))
    assert [(m.location, m.text_from) for m in got] == [("note.rtf", "rtf")]
    assert _texts(got)["note.rtf"] == body  # nothing of the tables, generator or picture


def test_rtf_control_words_groups_and_code_pages() -> None:
    rtf = (b"{\\rtf1\\ansi\\ansicpg1251 {\\info{\\author Matti}}"
           b"\\'e0\\'e1 {\\*\\unknown skipped {nested} text}line\\line two\\tab x\\~y\\-z"
           b"\\_w \\emdash \\lquote q\\rquote  \\uc2\\u1234\\'3f\\'3fok"
           b"\\uc1\\u-3913? {\\field{\\*\\fldinst{HYPERLINK \"mailto:matti@example.fi\"}}"
           b"{\\fldrslt{matti@example.fi}}} \\bin4 {}\\x\\{\\}\\\\end}")
    got = list(iter_members(rtf, "x.rtf"))
    assert _texts(got)["x.rtf"] == (
        "Matti\n\u0430\u0431 line\ntwo\tx\u00a0yz-w \u2014\u2018q\u2019 \u04d2ok\uf0b7"
        " HYPERLINK \"mailto:matti@example.fi\" matti@example.fi {}\\end")


def test_hostile_rtf_is_read_without_harm() -> None:
    """Unbalanced braces, deep nesting, a \\bin longer than the file, a cut escape: read as
    far as there is text, never an exception."""
    deep = b"{\\rtf1 " + b"{" * 200_000 + b"deep" + b"}" * 10 + b"}}}} after \\'4"
    assert _texts(list(iter_members(deep, "deep.rtf")))["deep.rtf"].startswith("deep")
    cut = b"{\\rtf1 before \\bin999999 \x00\x01 never"
    assert _texts(list(iter_members(cut, "cut.rtf")))["cut.rtf"] == "before "


def test_rtf_text_over_the_budget_is_cut_and_reported() -> None:
    got = list(iter_members(_rtf(SECRET * 3), "big.rtf", ArchiveLimits(max_member_size=20)))
    assert _reasons(got)["big.rtf"].startswith("too large: more than 20 characters")
    _no_content_in_reasons(got)


# -- legacy Excel (.xls) -------------------------------------------------------------------


def _xls(sheets: dict[str, list[list[object]]]) -> bytes:
    """A real .xls (BIFF8 in OLE2), written by xlwt; dates get a date format."""
    import datetime as dt

    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    date_style = xlwt.easyxf(num_format_str="DD.MM.YYYY")
    for name, rows in sheets.items():
        sheet = book.add_sheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, dt.date):
                    sheet.write(r, c, value, date_style)
                else:
                    sheet.write(r, c, value)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def test_a_legacy_excel_workbook_is_read() -> None:
    """Older patient systems export .xls: it was "binary: legacy Office (OLE2) document",
    and none of its cells was read."""
    import datetime as dt

    data = _xls({"Potilaat": [["Nimi", "Hetu", "Puhelin", "Syntynyt", "Käyntejä"],
                              ["Matti Meikäläinen", HETU, "040 1234567", dt.date(1952, 10, 13),
                               12],
                              ["Liisa Mäkelä", "", 401234567, None, 2.5]],
                 "Muistiinpanot": [[SECRET]]})
    assert data.startswith(b"\xd0\xcf\x11\xe0")
    got = list(iter_members(data, "rekisteri.xls"))
    assert _texts(got) == {
        "rekisteri.xls!sheet:Potilaat": (
            "Nimi\tHetu\tPuhelin\tSyntynyt\tKäyntejä\n"
            f"Matti Meikäläinen\t{HETU}\t040 1234567\t1952-10-13\t12\n"
            "Liisa Mäkelä\t\t401234567\t\t2.5\n"),
        "rekisteri.xls!sheet:Muistiinpanot": SECRET + "\n"}
    assert [m.text_from for m in got] == ["xls", "xls"]


def test_a_damaged_or_hostile_workbook_is_reported_without_its_content() -> None:
    data = _xls({"Potilaat": [[SECRET, HETU]] * 50})
    for a, b in ((512, len(data) // 2), (600, 700)):  # its sheets' records overwritten
        broken = list(iter_members(data[:a] + b"\xff" * (b - a) + data[b:], "broken.xls"))
        assert set(_reasons(broken)) == {"broken.xls"}
        assert _reasons(broken)["broken.xls"].startswith("extraction failed: xls (")
        _no_content_in_reasons(broken)
    # mutated workbooks: every one gives parts or a reason, and no reason holds a cell
    rng = __import__("random").Random(7)
    for _ in range(300):
        bad = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            bad[rng.randrange(512, len(bad))] = rng.randrange(256)
        members = list(iter_members(bytes(bad), "bad.xls"))
        assert members
        _no_content_in_reasons(members)
    # a budget of text: cut there, and said so
    big = _xls({"A": [[SECRET] * 20] * 200})
    over = list(iter_members(big, "big.xls", ArchiveLimits(max_member_size=50_000)))
    assert _reasons(over)["big.xls"].startswith("too large")


def test_a_workbook_s_people_are_found(tmp_path) -> None:
    from tests.support.index import synthetic_index
    from vahti.demo import synthetic
    from vahti.matchers.engine import Finding, Scanned, ScanOptions
    from vahti.matchers.keys import Key
    from vahti.matchers.scanfiles import scan_files

    key = Key(bytes(range(32)))
    people = synthetic.make_people(20, seed=47)
    rows = [["nimi", "hetu", "email", "puhelin", "syntynyt"]] + [
        [p.full_name, p.hetu, p.email, p.phone, p.birth_date] for p in people]
    path = tmp_path / "asiakkaat.xls"
    path.write_bytes(_xls({"Asiakkaat": rows}))
    events = list(scan_files([str(path)], synthetic_index(key, people), key, ScanOptions()))
    found = [e for e in events if isinstance(e, Finding)]
    assert {(f.id_type, f.ref) for f in found} == {
        (t, p.ref) for p in people for t in ("hetu", "email", "phone")}
    assert {f.location for f in found} == {f"{path}!sheet:Asiakkaat"}
    assert all(f.score == 1.0 for f in found if f.id_type == "hetu")  # name and date beside it
    (scanned,) = [e for e in events if isinstance(e, Scanned)]
    assert scanned.encoding == "xls" and scanned.status == "ok"
