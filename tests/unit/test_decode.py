"""decode_bytes: encodings, binary rejection, kind sniffing."""

from __future__ import annotations

import codecs
import random
import time

import pytest

from vahti.matchers.decode import Decoded, decode_bytes

FINNISH = "Hämeenlinnan työväenopisto: äiti, isä ja Åsa söivät €5 jäätelöä – ”hyvää”.\n"
SECRET = "SALAISUUS-131052-308T"


def test_plain_utf8() -> None:
    d = decode_bytes(FINNISH.encode("utf-8"))
    assert d == Decoded(FINNISH, "utf-8", "text", None)


def test_empty_is_text() -> None:
    assert decode_bytes(b"") == Decoded("", "utf-8", "text", None)


def test_utf8_bom_is_stripped() -> None:
    d = decode_bytes(codecs.BOM_UTF8 + FINNISH.encode("utf-8"))
    assert d.text == FINNISH
    assert d.encoding == "utf-8-sig"


@pytest.mark.parametrize("codec,bom", [("utf-16-le", codecs.BOM_UTF16_LE),
                                       ("utf-16-be", codecs.BOM_UTF16_BE),
                                       ("utf-32-le", codecs.BOM_UTF32_LE)])
def test_utf16_and_32_with_bom(codec: str, bom: bytes) -> None:
    d = decode_bytes(bom + FINNISH.encode(codec))
    assert d.text == FINNISH
    assert d.encoding == codec
    assert d.kind == "text"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_detected_from_nul_pattern(codec: str) -> None:
    text = "id;nimi;muistiinpano\n1;Matti;Asiakas kertoi nukkuneensa huonosti\n" * 20
    d = decode_bytes(text.encode(codec))
    assert d.text == text
    assert d.encoding == codec
    assert d.kind == "csv"


@pytest.mark.parametrize("codec", ["utf-32-le", "utf-32-be"])
def test_utf32_without_bom_is_detected_from_nul_pattern(codec: str) -> None:
    """It was "cp1252+nul": its NULs made spaces, `1   3   1   0 ...`, and no code was
    whole; "Scanned ok", nothing found."""
    text = f"id;nimi;hetu\n1;Matti Meikäläinen;{SECRET}\n" * 20
    d = decode_bytes(text.encode(codec))
    assert d.text == text
    assert d.encoding == codec
    assert d.kind == "csv"


def test_small_integers_are_no_utf32() -> None:
    """32-bit numbers under 256 hold the NULs of UTF-32 text, not its characters."""
    data = b"".join(n.to_bytes(4, "little") for n in random.Random(1).choices(range(32), k=4000))
    assert decode_bytes(data).kind == "binary"


@pytest.mark.parametrize("head,says", [
    (b"!BDN\x8b\xb7\x7f\x1aSM\x17\x00\x13\x00\x01\x01", "Outlook mailbox (.pst/.ost), not read"),
    (b"\x00\x01\x00\x00Standard Jet DB\x00\x01\x00\x00\x00", "Microsoft Access database"),
    (b"\x00\x01\x00\x00Standard ACE DB\x00\x02\x00\x00\x00", "Microsoft Access database"),
])
def test_a_mailbox_or_database_vahti_cannot_read_says_what_to_do(head: bytes, says: str) -> None:
    """It was "binary: 41% NUL bytes in sample": true, and no help at 3 a.m."""
    d = decode_bytes(head + bytes(range(256)) * 8)
    assert d.kind == "binary" and d.reason is not None
    assert d.reason.startswith(f"binary: {says}") and "scan" in d.reason


def test_cp1252_finnish_falls_back() -> None:
    text = "Potilas kertoi, että hänen äitinsä on sairastunut. Hinta 5 € – ”tärkeää”.\n" * 30
    d = decode_bytes(text.encode("cp1252"))
    assert d.text == text
    assert d.encoding == "cp1252"


def test_bytes_undefined_in_cp1252_decode_as_latin1() -> None:
    d = decode_bytes(b"abc \x81\x8d\x8f\x90\x9d \xe4iti")
    assert d.text == "abc \x81\x8d\x8f\x90\x9d äiti"


def test_mostly_utf8_with_a_few_broken_bytes_keeps_utf8() -> None:
    good = ("Äiti ja isä kävivät vastaanotolla. " * 200).encode("utf-8")
    d = decode_bytes(good + b" \xe4 " + good)  # one stray latin-1 byte in the middle
    assert d.encoding == "utf-8+cp1252"
    assert d.text is not None
    assert d.text.count("Äiti ja isä") == 400
    assert " ä " in d.text


@pytest.mark.parametrize("magic,label", [
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff\xe0", "JPEG"), (b"%PDF-1.7\n", "PDF"),
    (b"\x7fELF\x02\x01\x01", "ELF"), (b"PK\x03\x04", "zip"), (b"\x1f\x8b\x08", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
])
def test_magic_numbers_are_binary(magic: bytes, label: str) -> None:
    rng = random.Random(4)  # the format's body: compressed, or machine words
    body = bytes(rng.getrandbits(8) for _ in range(2000))
    d = decode_bytes(magic + body[:10] + SECRET.encode() * 5 + body)
    assert d.text is None
    assert d.kind == "binary"
    assert d.encoding == "binary"
    assert d.reason is not None and d.reason.startswith("binary: ") and label in d.reason
    assert SECRET not in d.reason


def test_nul_heavy_junk_is_binary() -> None:
    data = (SECRET.encode() + b"\x00\x00\x00\x01\x02") * 100
    d = decode_bytes(data)
    assert d.kind == "binary" and d.text is None
    assert d.reason is not None and "NUL" in d.reason and SECRET not in d.reason


def test_random_bytes_are_binary() -> None:
    rng = random.Random(7)
    data = bytes(rng.getrandbits(8) for _ in range(20000)).replace(b"\x00", b"\x01")
    d = decode_bytes(data)
    assert d.kind == "binary"
    assert d.reason is not None and "control" in d.reason


def test_binary_tail_after_text_head_is_caught_by_middle_sample() -> None:
    rng = random.Random(3)
    junk = bytes(rng.getrandbits(8) for _ in range(200000))
    d = decode_bytes(b"header line\n" + junk)
    assert d.kind == "binary"


@pytest.mark.parametrize("head", ["random", "records"])
def test_a_text_body_behind_a_binary_head_is_read_as_text(head: str) -> None:
    """A binary head where the samples fall, on a text body: junk put before a dump to
    hide it from monitors, a carved or concatenated file, binary records among the text
    (a database's log of statements). It was "binary" and none of its text was read; the
    whole input's NUL and control bytes now decide, and they are those of text."""
    rng = random.Random(11)
    if head == "random":
        junk = bytes(rng.getrandbits(8) for _ in range(8192))
    else:  # a 19-byte binary header before each statement
        junk = b"".join(bytes(rng.getrandbits(8) for _ in range(19)) + b"BEGIN"
                        for _ in range(400))
    body = ("INSERT INTO potilaat VALUES (1,'" + SECRET + "');\n").encode() * 20000
    d = decode_bytes(junk + body, "dump.sql")
    assert d.reason is None and d.text is not None
    assert d.text.count(SECRET) == 20000
    assert d.text.endswith(SECRET + "');\n")
    assert len(d.text) == len(junk) + len(body)  # every byte one character: offsets hold


_FINNISH_ROWS = "".join(f"{i};Mäkelä Pää-Öystilä;{SECRET};hyvä päivä, äänestys öisin\n"
                        for i in range(3000))  # about 190 KB, a tenth of it letters over 0x7F


@pytest.mark.parametrize("junk_bytes,body_bytes", [
    (8 << 10, None),  # random junk fills the head sample, the middle one is text
    # junk of bytes over 0x7F only (it reads as text by every count), and the middle
    # sample falls in it too: UTF-8 text is looked for all over
    (-100 << 10, 60 << 10),
])
@pytest.mark.parametrize("codec,encoding", [("utf-8", "utf-8+cp1252"), ("cp1252", "cp1252")])
def test_the_encoding_behind_a_binary_head_is_judged_on_its_text(
        junk_bytes: int, body_bytes: int | None, codec: str, encoding: str) -> None:
    """Junk before a UTF-8 dump made all of it cp1252: every junk byte over 0x7F is a
    broken UTF-8 sequence, so the samples looked like cp1252 text, and "Mäkelä" was read
    "MÃ¤kelÃ¤": names corroborated nothing and note excerpts with such letters were
    missed, without a word. The encoding is judged on the parts that read as text."""
    rng = random.Random(17)
    low = 0x80 if junk_bytes < 0 else 0
    junk = bytes(rng.randrange(low, 256) for _ in range(abs(junk_bytes))) + b"\n"
    body = _FINNISH_ROWS.encode(codec)[:body_bytes]
    body = body[: body.rfind(b"\n") + 1]
    d = decode_bytes(junk + body, "dump.csv")
    assert d.text is not None and d.encoding == encoding
    assert d.text.endswith(body.decode(codec))


@pytest.mark.parametrize("magic", [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"\x7fELF\x02"])
def test_text_behind_a_format_s_magic_bytes_is_read_as_text(magic: bytes) -> None:
    """Magic bytes say what a file is, but eight bytes put before a dump must not hide it:
    an input that reads as text all over is text, whatever its first bytes say."""
    body = ("1;Matti;" + SECRET + "\n").encode() * 2000
    d = decode_bytes(magic + body, "photo.png")
    assert d.reason is None and d.text is not None and d.text.count(SECRET) == 2000


def test_binary_with_a_little_text_stays_binary() -> None:
    """The whole input is judged only when the samples say binary, and it must read as
    text all over: a binary file with a text part (a fifth) stays binary."""
    rng = random.Random(12)
    junk = bytes(rng.getrandbits(8) for _ in range(400_000))
    text = (FINNISH * 1200).encode()
    assert 0.15 < len(text) / (len(junk) + len(text)) < 0.25
    d = decode_bytes(junk[:200_000] + text + junk[200_000:])
    assert d.kind == "binary" and d.text is None and "control" in (d.reason or "")


def test_single_stray_nul_keeps_text() -> None:
    d = decode_bytes(FINNISH.encode() * 50 + b"\x00" + FINNISH.encode())
    assert d.kind != "binary"
    assert d.text is not None and "\x00" in d.text


@pytest.mark.parametrize("content,name,kind", [
    ("<!DOCTYPE html><html><body>hei</body></html>", "", "html"),
    ("  \n<html lang=fi><p>hei</p></html>", "", "html"),
    ("plain words", "page.htm", "html"),
    ('{"nimi": "Matti", "hetu": null}', "", "json"),
    ('[{"a": 1}, {"a": 2}]', "", "json"),
    ("[2024-01-01 12:00] server started", "", "text"),
    ("[section]\nkey=value\n", "", "text"),
    ("-- MySQL dump 10.13\nCREATE TABLE potilaat (id int);\n", "", "sql"),
    ("INSERT INTO potilaat VALUES (1,'x');\n", "", "sql"),
    ("anything", "dump.sql", "sql"),
    ("id;nimi;hetu\n1;Matti;x\n2;Liisa;y\n", "", "csv"),
    ("a,b\n1,2\n3,4\n5,6\n", "", "csv"),
    ("anything", "a.zip!export/potilaat.CSV", "csv"),
    ("Tämä on tavallinen teksti, jossa on pilkku.\nToinen rivi ilman.\n", "", "text"),
    ("anything", "notes.txt", "text"),
])
def test_kind_sniffing(content: str, name: str, kind: str) -> None:
    assert decode_bytes(content.encode(), name).kind == kind


def test_large_input_is_fast() -> None:
    """One C-level decode pass: 40 MB of cp1252 text well under a few seconds."""
    block = ("Potilas kertoi, että hänen äitinsä on sairastunut. " * 1000).encode("cp1252")
    data = block * (40_000_000 // len(block))
    t = time.perf_counter()
    d = decode_bytes(data, "dump.txt")
    elapsed = time.perf_counter() - t
    assert d.encoding == "cp1252"
    assert d.text is not None and len(d.text) == len(data)
    assert elapsed < 5.0  # generous: about 0.3 s on an idle core


def test_nul_padded_text_is_read_with_nuls_as_spaces() -> None:
    """Fixed-width exports (and database files of many formats) pad fields with NULs:
    when what is left without the NULs is text, it is read, each NUL a space, so
    offsets stay those of the input and a padded field ends a word."""
    row = b"131052-308T" + b"\0" * 9 + "Matti Meikäläinen".encode("cp1252") + b"\0" * 23
    d = decode_bytes(row * 200)
    assert d.text is not None and d.reason is None
    assert d.encoding == "cp1252+nul"
    assert d.text.startswith("131052-308T" + " " * 9 + "Matti Meikäläinen")
    assert len(d.text) == len(row) * 200


def test_nul_padded_binary_stays_binary() -> None:
    rng = random.Random(5)
    data = b"".join(bytes(rng.getrandbits(8) for _ in range(8)) + b"\0" * 8 for _ in range(2000))
    d = decode_bytes(data)
    assert d.text is None and d.reason is not None and "NUL" in d.reason
