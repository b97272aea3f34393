"""`vahti scan --json` lines: byte for byte what echo(json.dumps(asdict(...))) printed,
written in blocks rather than flushed line by line."""

import io
import json
from dataclasses import asdict, replace

import pytest

from vahti.display import clean
from vahti.matchers.engine import Finding
from vahti.scan_output import FindingLines

LOCATIONS = [
    "/srv/leaks/dump.csv",
    "/srv/leaks/vuoto-äöå/tiedosto.sql",
    "file:///x.zip!inner/\"quoted\"\\back.json",
    "/tmp/\x1b[2Jclear\x7fdel\u202eRTL\u200bzw\ttab\nnl",
    "/tmp/undecodable-\udcff\udce4.txt",
    "/tmp/[hetu:0123456789abcdef0123].txt",
    "/tmp/emoji-\U0001f600-name.txt",
]
SCORES = [0.8, 0.9500000000000001, 1.0, 0.85, 1, 0.1 + 0.2]


def _before(f: Finding, location: str) -> str:
    """What the command printed per finding (display.echo of the JSON dump)."""
    return clean(json.dumps(asdict(replace(f, location=location)), sort_keys=True),
                 one_line=False)


@pytest.mark.parametrize("location", LOCATIONS)
def test_a_line_is_what_the_json_dump_printed(location):
    lines = FindingLines()
    for score in SCORES:
        for kind, id_type, ref in [("identifier", "hetu", "P0000001"),
                                   ("fragment", "fragment", "ref-ä\"\x01"),
                                   ("identifier", "email", "R/1\\2")]:
            f = Finding(kind, id_type, ref, "/raw/path", 12345678901, 12345678912, score)
            assert lines.line(f, location) == _before(f, location)
            out = io.StringIO()
            batch = FindingLines(out)
            batch.add_all([f, f], lambda _: location)  # noqa: B023
            batch.flush()
            assert out.getvalue() == 2 * (_before(f, location) + "\n")


class _Counting(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, s: str) -> int:
        self.writes += 1
        return super().write(s)


def test_lines_are_written_in_blocks_and_all_of_them_on_flush():
    out = _Counting()
    lines = FindingLines(out, block_chars=1 << 14)
    found = [Finding("identifier", "hetu", f"P{i:07d}", "/x", i * 20, i * 20 + 11, 0.8)
             for i in range(5000)]
    lines.add_all(found, lambda _: "/x")
    lines.flush()
    assert out.getvalue() == "".join(_before(f, "/x") + "\n" for f in found)
    assert out.writes < 50  # was one write (and flush) per line


@pytest.mark.parametrize("with_native", [True, False])
@pytest.mark.parametrize("location", LOCATIONS)
def test_lines_of_columns_are_the_lines_of_findings(location, with_native, monkeypatch):
    """`add_columns` (findings as columns, `vahti scan --json`; lines joined in C, or in
    Python without the extension) writes what `add_all` writes for the same findings,
    shown under the same location."""
    import numpy as np

    from vahti.matchers import native
    from vahti.matchers.engine import FindingColumns

    if with_native:
        assert getattr(native.lib, "json_lines", None), "the C extension must be built"
    else:
        monkeypatch.setattr(native, "lib", None)

    found = [Finding(kind, id_type, ref, "/raw", i * 20, i * 20 + 11, SCORES[i % len(SCORES)])
             for i in range(300)
             for kind, id_type, ref in [("identifier", "hetu", f"P{i % 7:07d}"),
                                        ("fragment", "fragment", "ref-ä\"\x01")]]
    found = [replace(f, score=float(f.score)) for f in found]  # columns hold floats
    by_objects, by_columns = io.StringIO(), io.StringIO()
    a, b = FindingLines(by_objects, block_chars=1 << 12), FindingLines(by_columns, 1 << 12)
    a.add_all(found, lambda _: location)
    b.add_columns(FindingColumns.of(found, "/raw"), location)
    a.flush()
    b.flush()
    assert by_columns.getvalue() == by_objects.getvalue()
    assert by_columns.getvalue() == "".join(_before(f, location) + "\n" for f in found)
    assert np.array_equal(FindingColumns.of(found, "/raw").starts, [f.start for f in found])


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_big_block_of_column_lines_goes_to_the_binary_buffer_in_order(encoding):
    """A block of lines at least `block_chars` long is written to the text stream's
    binary buffer as bytes (ASCII: the bytes the text stream would write), after what
    was buffered and written as text before it; a stream whose encoding is not
    ASCII-compatible gets text."""
    from vahti.matchers import native
    from vahti.matchers.engine import FindingColumns

    assert getattr(native.lib, "json_lines", None), "the C extension must be built"
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding=encoding, newline="\n", write_through=False)
    lines = FindingLines(out, block_chars=1 << 12)
    first = Finding("identifier", "email", "R1", "/a", 1, 2, 0.5)
    found = [Finding("identifier", "hetu", f"P{i % 50:07d}", "/raw", i * 20, i * 20 + 11, 0.8)
             for i in range(2000)]
    lines.add_all([first], lambda _: "/a")
    lines.flush()
    out.write("between\n")  # text the command printed in between, not yet flushed
    lines.add_columns(FindingColumns.of(found, "/raw"), "/b")
    lines.add_all([first], lambda _: "/a")
    lines.flush()
    expected = (_before(first, "/a") + "\nbetween\n"
                + "".join(_before(f, "/b") + "\n" for f in found)
                + _before(first, "/a") + "\n")
    assert raw.getvalue() == expected.encode(encoding)
