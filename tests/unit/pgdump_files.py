"""Writes PostgreSQL custom-format dumps (`pg_dump -Fc`) for the tests, laid out as
pg_dump's pg_backup_archiver.c and pg_backup_custom.c write them: a header, the table of
contents, then each table's data as compressed chunks, then large objects.

`tests/fixtures/pg_dump/` holds one written by pg_dump itself; this writer makes what
the tests need beyond it: archive versions 1.14 (PostgreSQL 14-15), 1.15 (16) and 1.16
(17 on), every compression method, damaged and hostile files.
"""

from __future__ import annotations

import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import libarchive

from vahti.matchers.archives import zstd

ALGORITHMS = {"none": 0, "gzip": 1, "lz4": 2, "zstd": 3}
CHUNK = 4096  # pg_dump's zlib output buffer: one chunk per buffer


def _int(n: int) -> bytes:
    return bytes([1 if n < 0 else 0]) + abs(n).to_bytes(4, "little")


def _str(s: bytes | str | None) -> bytes:
    if s is None:
        return _int(-1)
    b = s.encode() if isinstance(s, str) else s
    return _int(len(b)) + b


def compress(data: bytes, algorithm: str) -> bytes:
    if algorithm == "none":
        return data
    if algorithm == "gzip":
        return zlib.compress(data)
    if algorithm == "zstd":
        return zstd.compress(data)
    with tempfile.TemporaryDirectory() as tmp:  # an LZ4 frame, as pg_dump's LZ4F writes
        path = Path(tmp) / "x.lz4"
        with libarchive.file_writer(str(path), "raw", "lz4") as w:
            w.add_file_from_memory("x", len(data), data)
        return path.read_bytes()


def chunks(stream: bytes, size: int = CHUNK) -> bytes:
    """A data stream as chunks, ended by a chunk of length 0."""
    out = b"".join(_int(len(stream[i:i + size])) + stream[i:i + size]
                   for i in range(0, len(stream), size))
    return out + _int(0)


@dataclass
class Table:
    name: str
    columns: list[str]
    rows: bytes  # COPY's text form: tab-separated, a line a row
    comment: str | None = None
    schema: str = "public"


@dataclass
class Dump:
    tables: list[Table]
    blobs: dict[int, bytes] = field(default_factory=dict)
    version: int = 14  # the minor archive version: 14, 15 or 16
    algorithm: str = "gzip"
    fmt: int = 1  # 1: custom; 5: a directory dump's toc.dat

    def toc_sql(self) -> bytes:
        """What the reader gives as toc.sql."""
        return b"".join(defn + b"\n" for _, _, defn, _, _ in self._entries() if defn)

    def copy(self, table: Table) -> bytes:
        columns = ", ".join(table.columns)
        return f"COPY {table.schema}.{table.name} ({columns}) FROM stdin;\n".encode()

    def _entries(self) -> list[tuple[str, str, bytes, bytes, str]]:
        """(tag, desc, defn, copy statement, schema) per TOC entry, in dump id order."""
        out = [("ENCODING", "ENCODING", b"SET client_encoding = 'UTF8';\n", b"", "")]
        for t in self.tables:
            cols = ", ".join(f"{c} text" for c in t.columns)
            out.append((t.name, "TABLE",
                        f"CREATE TABLE {t.schema}.{t.name} ({cols});\n".encode(), b"", t.schema))
            if t.comment is not None:
                out.append((f"TABLE {t.name}", "COMMENT",
                            f"COMMENT ON TABLE {t.schema}.{t.name} IS '{t.comment}';\n".encode(),
                            b"", t.schema))
        for t in self.tables:
            out.append((t.name, "TABLE DATA", b"", self.copy(t), t.schema))
        if self.blobs:
            out.append(("BLOBS", "BLOBS", b"", b"", ""))
        return out

    def write(self, *, cut: int | None = None, tables_written: int | None = None) -> bytes:
        """The file; `cut`: its first bytes only; `tables_written`: the data of only the
        first tables (a file cut at a block's edge)."""
        assert self.version >= 15 or self.algorithm in ("none", "gzip")  # as in pg_dump
        header = b"PGDMP" + bytes([1, self.version, 0, 4, 8, self.fmt])
        header += (bytes([ALGORITHMS[self.algorithm]]) if self.version >= 15 else
                   _int(0 if self.algorithm == "none" else -1))
        header += b"".join(_int(n) for n in (12, 30, 9, 7, 11, 126, 0))  # 2026-12-07 09:30:12
        header += _str("klinikka") + _str("15.18") + _str("15.18")
        entries = self._entries()
        toc = _int(len(entries))
        for dump_id, (tag, desc, defn, copy, schema) in enumerate(entries, 1):
            toc += _int(dump_id) + _int(1 if desc in ("TABLE DATA", "BLOBS") else 0)
            toc += _str("0") + _str("0") + _str(tag) + _str(desc) + _int(2)
            toc += _str(defn) + _str(b"") + _str(copy) + _str(schema) + _str(b"")
            if self.version >= 14:
                toc += _str("heap" if desc == "TABLE" else b"")
            if self.version >= 16:
                toc += _int(ord("r") if desc == "TABLE" else 0)
            toc += _str("postgres") + _str("false") + _str(None)
            if self.fmt == 1:  # where its data is: not known (written to a pipe), or none
                toc += bytes([1 if desc in ("TABLE DATA", "BLOBS") else 3]) + bytes(8)
            else:
                toc += _str(f"{dump_id}.dat.gz" if desc == "TABLE DATA" else None)
        data = b""
        if self.fmt == 1:
            ids = {(tag, desc): i for i, (tag, desc, *_) in enumerate(entries, 1)}
            for t in self.tables[:tables_written]:
                data += bytes([1]) + _int(ids[(t.name, "TABLE DATA")])
                data += chunks(compress(t.rows, self.algorithm))
            if self.blobs and tables_written is None:
                data += bytes([3]) + _int(ids[("BLOBS", "BLOBS")])
                for oid, blob in self.blobs.items():
                    data += _int(oid) + chunks(compress(blob, self.algorithm))
                data += _int(0)
        out = header + toc + data
        return out if cut is None else out[:cut]
