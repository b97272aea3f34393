"""`vahti scan --json`: one JSON object per finding, one a line, written in blocks.

A dense dump has a finding on every row: hundreds of thousands of lines. Each
line is exactly what ``echo(json.dumps(asdict(finding), sort_keys=True))`` wrote
(the same keys, separators, number forms and ASCII escapes, then `display.clean`),
but built from the encodings of its few strings, which repeat from line to line
(location, ref, type), and written to stdout in blocks instead of flushed one by one.

The big blocks of a task's lines (`add_columns`) are made and written by a thread of
their own (`_BlockWriter`) while the scan goes on: on 155 MB of dense dumps the command
prints 97 MB, and its writes took 0.15 s of a 1.2 s scan on the main thread, the lines
0.1-0.2 s more. A write lets go of the GIL, and so does the C function that formats the
lines once it holds their parts (`json_lines`), so on a second core they cost little
scan time. Lines keep their order: the
thread writes the blocks in turn, and every other write to stdout (`flush`) waits
until the blocks handed over are out. A failed write (a closed pipe) is raised in
the command at its next write, or at `close`.

Privacy: a line holds what it held before: the type, kind, the person's ref, the
location as stored (identifiers in names as keyed tokens) and the offsets.
"""

from __future__ import annotations

import codecs
import queue
import sys
import threading
from collections.abc import Callable
from json.encoder import encode_basestring_ascii  # what json.dumps uses (ensure_ascii)
from typing import BinaryIO, TextIO

import numpy as np

from vahti.display import clean
from vahti.matchers import native
from vahti.matchers.engine import Finding, FindingColumns

BLOCK_CHARS = 1 << 16
# Blocks handed to the writing thread and not yet written, at most (a block is one task's
# lines: up to 5 MB for an 8 MiB range of a dense dump). Past it the scan waits.
PENDING_BLOCKS = 2
# No line is shorter (`{"end": 0, "id_type": "", "kind": "", "location": "", "ref": "",
# "score": 0, "start": 0}`): so many findings make a big block (`add_columns`).
MIN_LINE_CHARS = 89
# encodings in which an ASCII line is its own bytes (codecs.lookup names)
ASCII_COMPATIBLE = frozenset({"utf-8", "ascii", "latin-1", "iso8859-15", "cp1252"})


def _float(x: float) -> str:
    """A score as json.dumps writes it."""
    if isinstance(x, int):
        return int.__repr__(x)
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    return float.__repr__(x)


class FindingLines:
    """Buffered `--json` finding lines on `stream` (stdout by default)."""

    def __init__(self, stream: TextIO | None = None, block_chars: int = BLOCK_CHARS) -> None:
        self.stream = stream
        self.block_chars = block_chars
        self.parts: list[str] = []
        self.size = 0
        self._strings: dict[str, str] = {}
        # the middle of a line ("id_type" to "ref"), per type, kind, location and ref
        self._middles: dict[tuple[str, str, str, str], str] = {}
        self._scores: dict[float, str] = {}
        # the same middles for `add_columns`, as the C function keeps them:
        # {(id_type, kind, location): {ref: middle}}
        self._groups: dict[tuple[str, str, str], dict[str, str]] = {}
        self._writer: _BlockWriter | None = None

    def _str(self, s: str) -> str:
        """A string as a JSON value, cleaned for the terminal like the whole line was."""
        out = self._strings.get(s)
        if out is None:
            if len(self._strings) > 100_000:  # many small inputs: keep the cache small
                self._strings.clear()
            out = self._strings[s] = clean(encode_basestring_ascii(s), one_line=False)
        return out

    def _middle(self, f: Finding, location: str) -> str:
        """The part of the line from "id_type" to "ref" (made on a cache miss)."""
        return self._new_middle(f.id_type, f.kind, location, f.ref)

    def _new_middle(self, id_type: str, kind: str, location: str, ref: str) -> str:
        if len(self._middles) > 100_000:
            self._middles.clear()
        middle = self._middles[(id_type, kind, location, ref)] = self._make_middle(
            id_type, kind, location, ref)
        return middle

    def _make_middle(self, id_type: str, kind: str, location: str, ref: str) -> str:
        s = self._str
        return (f'"id_type": {s(id_type)}, "kind": {s(kind)}, "location": {s(location)}, '
                f'"ref": {s(ref)}')

    def _score(self, x: float) -> str:
        """A score as written (made on a cache miss; 1 == 1.0: only floats are cached)."""
        score = _float(x)
        if type(x) is float and x:  # not 0.0: -0.0 == 0.0 is the same key, and writes "-0.0"
            self._scores[x] = score
        return score

    def line(self, f: Finding, location: str) -> str:
        """The line of `f` shown under `location` (as stored), without its newline. Its
        middle ("id_type" to "ref") and its score repeat from line to line: cached."""
        middle = (self._middles.get((f.id_type, f.kind, location, f.ref))
                  or self._middle(f, location))
        x = f.score
        score = (self._scores.get(x) if type(x) is float else None) or self._score(x)
        # sorted keys, as json.dumps(asdict(f), sort_keys=True)
        return (f'{{"end": {int.__repr__(f.end)}, {middle}, "score": {score}, '
                f'"start": {int.__repr__(f.start)}}}')

    def add_all(self, findings: list[Finding], location_of: Callable[[str], str]) -> None:
        """The lines of `findings`, each shown under ``location_of(f.location)``: `line`
        inlined, a quarter cheaper a line (a dense dump prints hundreds of thousands;
        tests/unit/test_scan_output.py holds both to json.dumps)."""
        middles, scores, parts = self._middles, self._scores, self.parts
        size, rep = self.size, int.__repr__
        for f in findings:
            location = location_of(f.location)
            middle = (middles.get((f.id_type, f.kind, location, f.ref))
                      or self._middle(f, location))
            x = f.score
            score = (scores.get(x) if type(x) is float else None) or self._score(x)
            text = (f'{{"end": {rep(f.end)}, {middle}, "score": {score}, '
                    f'"start": {rep(f.start)}}}\n')
            parts.append(text)
            size += len(text)
            if size >= self.block_chars:
                self.size = size
                self.flush()
                parts, size = self.parts, 0
        self.size = size

    def add_columns(self, found: FindingColumns, location: str) -> None:
        """The lines of findings given as columns (`scan_files(columns=True)`), shown under
        `location`: `add_all` without a `Finding` object a line, the lines made in C when
        the extension is built (a twentieth of the cost a line), and a big block of them
        written to the stream's binary buffer as it is (the lines are ASCII)."""
        json_lines = getattr(native.lib, "json_lines", None)
        if json_lines is None:
            self._add_columns(found, location)
            return
        if self._group_size() > 100_000:  # many small inputs: keep the cache small
            self._groups.clear()
        binary = self._binary_stream()
        if binary is None or len(found) * MIN_LINE_CHARS < self.block_chars:
            text = self._lines(found, location).decode("ascii")
            self.parts.append(text)
            self.size += len(text)
            if self.size >= self.block_chars:
                self.flush()
            return
        self.flush()  # what is buffered first
        (self.stream or sys.stdout).flush()  # and the text stream's own buffer
        if self._writer is None or self._writer.binary is not binary:
            self.close()
            self._writer = _BlockWriter(binary)
        # made by the writing thread, which formats them without the GIL (module doc)
        self._writer.write(lambda: self._lines(found, location))

    def _lines(self, found: FindingColumns, location: str) -> bytes:
        """The lines of `found` (under `location`), made in C."""
        assert native.lib is not None
        return native.lib.json_lines(
            found.id_types, found.kinds, found.refs, location, self._groups,
            self._make_middle, np.ascontiguousarray(found.scores, dtype=np.float64),
            self._score, np.ascontiguousarray(found.starts, dtype=np.int64),
            np.ascontiguousarray(found.ends, dtype=np.int64))

    def _group_size(self) -> int:
        return sum(map(len, self._groups.values()))

    def _binary_stream(self) -> BinaryIO | None:
        """The binary buffer under the stream, when ASCII lines written there are the
        bytes the text stream would have written (an ASCII-compatible encoding)."""
        stream = self.stream or sys.stdout
        binary = getattr(stream, "buffer", None)
        encoding = getattr(stream, "encoding", None)
        if binary is None or not encoding:
            return None
        try:
            ascii_compatible = codecs.lookup(encoding).name in ASCII_COMPATIBLE
        except LookupError:
            return None
        return binary if ascii_compatible else None

    def _add_columns(self, found: FindingColumns, location: str) -> None:
        """`add_columns` in Python (without the C extension): the findings' lines."""
        self.add_all(found.findings(), lambda _: location)

    def flush(self) -> None:
        """Write what is buffered (before anything else is printed, and at the end): the
        blocks handed to the writing thread, then the lines held here."""
        if self._writer is not None:
            self._writer.drain()
        if self.parts:
            stream = self.stream or sys.stdout
            stream.write("".join(self.parts))
            stream.flush()
            self.parts, self.size = [], 0

    def close(self) -> None:
        """`flush`, and end the writing thread (a later block starts another)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.drain()
            finally:
                writer.stop()
        self.flush()


class _BlockWriter:
    """Blocks of bytes made and written to `binary`, in the order given, by a thread of its own
    (module doc). The first failed write is kept and raised by `write` and `drain`; the
    blocks after it are dropped, as a closed stream would drop them."""

    def __init__(self, binary: BinaryIO, depth: int = PENDING_BLOCKS) -> None:
        self.binary = binary
        self._blocks: queue.Queue[Callable[[], bytes] | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="vahti-json-out", daemon=True)
        self._thread.start()

    def write(self, make: Callable[[], bytes]) -> None:
        """Write what `make()` returns, made by the writing thread."""
        self._raise()
        self._blocks.put(make)

    def drain(self) -> None:
        """Return once every block handed over is written; raise the write's error."""
        self._blocks.join()
        self._raise()

    def stop(self) -> None:
        self._blocks.put(None)
        self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            make = self._blocks.get()
            try:
                if make is None:
                    return
                if self._error is None:
                    self.binary.write(make())
                    self.binary.flush()
            except BaseException as exc:  # noqa: BLE001 - raised in the command (`_raise`)
                self._error = exc
            finally:
                self._blocks.task_done()
