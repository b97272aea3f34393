"""MongoDB dumps, read: `mongodump`'s collection files (`potilaat.bson`, `.bson.gz` with
`--gzip`) and its single-file archives (`mongodump --archive`). An open MongoDB is one of
the commonest ways a database leaks, and its dump is BSON: binary, each string behind a
length and before a NUL, so such a file was "binary" with nobody in it found.

Documents are decoded with pymongo's own `bson` (vahti's database driver) and written one
a line as JSON, keys and values as the application stored them
(`{"nimi": "Matti Meikäläinen", "hetu": "131052-308T", ...}`). A binary value that is
UTF-8 text is written as that text; a larger one that is not (a scanned referral stored in
the document) is an input of its own, `potilaat.bson!doc:12:binary:1`, read like any
file; a short one is written as its size.

A `.bson` file has no magic bytes: it is told by its structure, its first two documents
(or its only one) decoding and their lengths following each other (`is_bson`). An
archive is told by its magic number, then read as its specification lays it out: a
header, collection metadata, then per collection segments of documents, interleaved
when mongodump dumped collections side by side; each collection is a part,
`dump.archive!klinikka.potilaat`. A document that does not decode ends the file there
(what came before stands) and is reported by its number, never its content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from . import MONGO_ARCHIVE_MAGIC, ExtractError, Part, TextBudget, failed

_TERMINATOR = b"\xff\xff\xff\xff"
_MIN_DOCUMENT = 5  # the length and the final NUL
INPUT_MIN = 32  # a binary value of at least this many bytes, not text: an input of its own


def _codec():  # noqa: ANN202 - pymongo's CodecOptions, imported with bson
    from bson.codec_options import CodecOptions, DatetimeConversion

    # Names and notes with broken UTF-8 are still read; dates outside Python's range too.
    return CodecOptions(unicode_decode_error_handler="replace",
                        datetime_conversion=DatetimeConversion.DATETIME_AUTO)


def _length(data: bytes | memoryview, at: int) -> int:
    return int.from_bytes(data[at:at + 4], "little", signed=True)


def is_bson(data: bytes) -> bool:
    """Whether `data` begins with BSON documents: its first two (or its only one) decode,
    each where the one before ends. Text never does (a document's key ends in a NUL), and
    is told so before bson is imported."""
    at = 0
    for _ in range(2):
        if at == len(data):
            return at > 0
        n = _length(data, at)
        if not _MIN_DOCUMENT <= n <= len(data) - at or data[at + n - 1] != 0:
            return False
        import bson

        try:
            bson.decode(data[at:at + n], _codec())
        except Exception:  # noqa: BLE001 - any failure: not BSON
            return False
        at += n
    return True


class _Writer:
    """Documents as JSON lines, and the binary values that become inputs."""

    def __init__(self, suffix: str, budget: TextBudget) -> None:
        self.suffix = suffix
        self.budget = budget
        self.lines: list[str] = []
        self.inputs: list[Part] = []
        self.count = 0  # documents written
        self._found = 0  # binary inputs of the current document
        self._gridfs: dict[str, list[tuple[int, bytes]]] = {}  # a file's id: (n, its chunk)
        # Only what JSON has no form for comes to `_other`: no walk over every value.
        self._encode = json.JSONEncoder(ensure_ascii=False, default=self._other).encode

    def add(self, document: dict[str, Any]) -> None:
        self.count += 1
        self._found = 0
        if document.keys() == _GRIDFS_CHUNK and isinstance(document["data"], bytes):
            file_id = str(document["files_id"])
            self._gridfs.setdefault(file_id, []).append((_number(document["n"]),
                                                         bytes(document["data"])))
            document = {**document, "data": f"<GridFS chunk, read in file:{file_id}>"}
        line = self._encode(document) + "\n"
        self.budget.take(len(line))
        self.lines.append(line)

    def _other(self, value: Any) -> str:
        """A binary value as its text, its size, or a note of the input it becomes;
        anything else (ObjectId, dates, Decimal128, ...) as its str()."""
        if not isinstance(value, bytes):  # (bson's Binary is a bytes too)
            return str(value)
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass
        if len(value) < INPUT_MIN:
            return f"<binary: {len(value)} bytes>"
        self._found += 1
        suffix = f"binary:{self._found}"
        self.inputs.append(Part(f"{self.suffix}!doc:{self.count}:{suffix}", "", "bson",
                                data=bytes(value)))
        return f"<binary: {len(value)} bytes, read as doc:{self.count}:{suffix}>"

    def parts(self) -> Iterator[Part]:
        yield Part(self.suffix, "".join(self.lines), "bson")
        yield from self.inputs
        for file_id, chunks in self._gridfs.items():  # its chunks joined in their order
            chunks.sort(key=lambda chunk: chunk[0])
            yield Part(f"{self.suffix}!file:{_UNSAFE.sub('_', file_id)}", "", "bson",
                       data=b"".join(data for _, data in chunks))


# A chunk of a file stored in GridFS (fs.chunks): files as large as a scanned referral
# are cut into 255 KiB chunks, one document each; they are joined, and read, as the file.
_GRIDFS_CHUNK = {"_id", "files_id", "n", "data"}


def _number(value: Any) -> int:
    return value if isinstance(value, int) else 0


_BATCH = 1 << 20  # bytes of documents decoded in one call


def _decoded(data: bytes) -> Iterator[dict[str, Any]]:
    """The documents of `data`, about a MiB of them decoded in one call of bson's C code
    (one call per document takes half as long again); one that does not decode raises
    there, after those before it."""
    import bson
    from bson.errors import InvalidBSON

    codec = _codec()
    at = 0
    while at < len(data):
        end = at
        while end < len(data) and end - at < _BATCH:
            n = _length(data, end)
            if not _MIN_DOCUMENT <= n <= len(data) - end:
                break
            end += n
        if end == at:
            raise InvalidBSON("a length that cannot be")
        try:
            documents = bson.decode_all(data[at:end], codec)
        except Exception:  # noqa: BLE001 - decoded one at a time to the bad one, then raised
            yield from bson.decode_iter(data[at:end], codec)
            raise
        yield from documents
        at = end


def bson_parts(data: bytes, budget: TextBudget) -> Iterator[Part]:
    """A collection file's documents as one part, then its binary inputs. A document that
    does not decode, or the text budget, ends it: what came before stands, and the reason
    follows at the same location."""
    out = _Writer("", budget)
    reason = None
    try:
        for document in _decoded(data):
            out.add(document)
    except ExtractError as exc:  # the text budget
        reason = exc.reason
    except Exception as exc:  # noqa: BLE001 - a hostile file; reported by type name only
        reason = _broken(out.count + 1, exc)
    yield from out.parts()
    if reason is not None:
        yield Part("", "", "bson", reason=reason)


def _broken(number: int, exc: BaseException | str) -> str:
    return failed("bson", exc)[:-1] + f" at document {number}; the rest was not read)"


def archive_parts(data: bytes, budget: TextBudget) -> Iterator[Part]:
    """A mongodump archive's collections, each a part (then their binary inputs). A
    document that does not decode, a cut, or the text budget ends it: the collections'
    documents before it stand, and the reason follows at the archive."""
    collections: dict[str, _Writer] = {}
    reason = None
    try:
        _read_archive(data, budget, collections)
    except ExtractError as exc:
        reason = exc.reason
    for writer in collections.values():
        yield from writer.parts()
    if reason is not None:
        yield Part("", "", "bson", reason=reason)


def _read_archive(data: bytes, budget: TextBudget, collections: dict[str, _Writer]) -> None:
    """The archive's documents into `collections` (db.collection: its writer), as its
    specification lays them out: magic, header, collection metadata, a terminator; then
    segments, each a namespace header, its documents (none when the header says EOF) and
    a terminator."""
    import bson

    codec = _codec()
    at, number = len(MONGO_ARCHIVE_MAGIC), 0
    current: _Writer | None = None
    in_prelude = True  # the header and the collections' metadata, up to a terminator
    header_next = False  # after a terminator: a namespace header
    try:
        while at < len(data):
            if data[at:at + 4] == _TERMINATOR:
                at += 4
                in_prelude, header_next, current = False, True, None
                continue
            n = _length(data, at)
            if not _MIN_DOCUMENT <= n <= len(data) - at:
                raise ExtractError(_broken(number + 1, "cut short"))
            document = bson.decode(data[at:at + n], codec)
            at += n
            number += 1
            if in_prelude:
                continue  # (options and indexes: no documents)
            if header_next:  # {db, collection, EOF, CRC}
                header_next = False
                if not document.get("EOF"):
                    name = _namespace(document)
                    current = collections.setdefault(name, _Writer(f"!{name}", budget))
                continue
            if current is None:
                raise ExtractError(_broken(number, "a document outside a collection"))
            current.add(document)
    except ExtractError:
        raise
    except Exception as exc:  # noqa: BLE001 - a hostile file; reported by type name only
        raise ExtractError(_broken(number + 1, exc)) from None
    if not header_next:  # a whole archive ends with a segment's terminator
        raise ExtractError(_broken(number + 1, "cut short"))


_UNSAFE = re.compile(r"[!\x00-\x1f]")


def _namespace(header: dict[str, Any]) -> str:
    """db.collection, fit to end a location."""
    return _UNSAFE.sub("_", f"{header.get('db', '')}.{header.get('collection', '')}")
