"""`vahti scan --json` lines: byte for byte what echo(json.dumps(asdict(...))) printed,
written in blocks rather than flushed line by line."""

import io
import json
import threading
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
    lines.close()
    expected = (_before(first, "/a") + "\nbetween\n"
                + "".join(_before(f, "/b") + "\n" for f in found)
                + _before(first, "/a") + "\n")
    assert raw.getvalue() == expected.encode(encoding)


@pytest.mark.parametrize("with_native", [True, False])
def test_many_and_odd_scores_are_written_as_json_dumps_writes_them(with_native, monkeypatch):
    """Scores as columns are written from their float's bits (a table of the distinct
    ones, grown past its first size): a thousand distinct scores, zero and minus zero,
    infinities and NaN come out as json.dumps writes each."""
    import numpy as np

    from vahti.matchers import native
    from vahti.matchers.engine import FindingColumns

    if with_native:
        assert getattr(native.lib, "json_lines", None), "the C extension must be built"
    else:
        monkeypatch.setattr(native, "lib", None)
    odd = [0.0, -0.0, 0.0, float("inf"), float("-inf"), float("nan"), 1.0, 1e-300, 0.1 + 0.2]
    scores = odd + [i / 997 for i in range(1000)] + odd[::-1]
    found = [Finding("identifier", "hetu", f"P{i % 9:07d}", "/raw", i, i + 11, x)
             for i, x in enumerate(scores)]
    out = io.StringIO()
    lines = FindingLines(out, block_chars=1 << 12)
    lines.add_columns(FindingColumns.of(found, "/raw"), "/x")
    lines.close()
    assert out.getvalue() == "".join(_before(f, "/x") + "\n" for f in found)
    assert np.array_equal(FindingColumns.of(found, "/raw").scores, scores, equal_nan=True)


class _Blocking(io.BytesIO):
    """A binary stream whose writes wait for `go` (a slow pipe), or fail (a closed one)."""

    def __init__(self, fail: BaseException | None = None) -> None:
        super().__init__()
        self.go = threading.Event()
        self.fail = fail
        self.writes = 0

    def write(self, data) -> int:  # noqa: ANN001
        self.go.wait(10)
        self.writes += 1
        if self.fail is not None:
            raise self.fail
        return super().write(data)


def _big_blocks(n_blocks: int, per_block: int = 300):
    from vahti.matchers.engine import FindingColumns

    for b in range(n_blocks):
        found = [Finding("identifier", "hetu", f"P{i % 50:07d}", "/raw", i * 20, i * 20 + 11,
                         0.8) for i in range(b * per_block, (b + 1) * per_block)]
        yield FindingColumns.of(found, "/raw"), found


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "vahti-json-out"]


def test_big_blocks_are_written_by_a_thread_in_order_and_the_scan_waits_past_a_bound():
    """Big blocks of column lines go to a thread that writes them in turn; the command
    goes on meanwhile, until `PENDING_BLOCKS` are waiting (then it waits: memory is
    bounded); text written after them comes after them; `close` ends the thread."""
    from vahti.matchers import native
    from vahti.scan_output import PENDING_BLOCKS

    assert getattr(native.lib, "json_lines", None), "the C extension must be built"
    others = set(_writer_threads())
    raw = _Blocking()
    out = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
    lines = FindingLines(out, block_chars=1 << 12)
    blocks = list(_big_blocks(PENDING_BLOCKS + 3))
    handed = threading.Event()

    def scan() -> None:
        for cols, _ in blocks:
            lines.add_columns(cols, "/b")
        handed.set()

    producer = threading.Thread(target=scan)
    producer.start()
    # the first block is being written (held), PENDING_BLOCKS wait: the producer waits too
    assert not handed.wait(0.5)
    assert raw.writes == 0
    raw.go.set()
    producer.join(10)
    assert handed.is_set()
    first = Finding("identifier", "email", "R1", "/a", 1, 2, 0.5)
    lines.add_all([first], lambda _: "/a")
    lines.close()
    assert set(_writer_threads()) <= others
    expected = "".join(_before(f, "/b") + "\n" for _, found in blocks for f in found)
    assert raw.getvalue().decode() == expected + _before(first, "/a") + "\n"


def test_a_failed_block_write_is_raised_in_the_command_and_the_thread_ends():
    """A closed stdout (BrokenPipeError) while a block is written by the thread: the
    next `add_columns`, `flush` or `close` raises it; later blocks are not written."""
    from vahti.matchers import native

    assert getattr(native.lib, "json_lines", None), "the C extension must be built"
    others = set(_writer_threads())
    raw = _Blocking(fail=BrokenPipeError(32, "Broken pipe"))
    raw.go.set()
    out = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
    lines = FindingLines(out, block_chars=1 << 12)
    blocks = list(_big_blocks(3))
    lines.add_columns(blocks[0][0], "/b")
    with pytest.raises(BrokenPipeError):
        lines.flush()
    with pytest.raises(BrokenPipeError):
        lines.add_columns(blocks[1][0], "/b")
    with pytest.raises(BrokenPipeError):
        lines.close()
    assert raw.writes == 1
    assert set(_writer_threads()) <= others
