"""SQLite databases: every table's rows as tab-separated text, one part per table.

The bytes are opened in memory (`Connection.deserialize`): no temporary file,
nothing written. Hostile files are bounded three ways: a progress handler ends
any statement past the time limit, `SQLITE_LIMIT_LENGTH` caps one value (a
generated column of `zeroblob(1e9)` fails instead of allocating a gigabyte), and
the text budget stops the extraction when the output grows too large. Views are
not read (a recursive view is an endless table); virtual tables need modules
that are not there and are skipped by their declaration.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from .. import decode
from . import ExtractError, Part, TextBudget, failed, time_limit

MAX_VALUE_BYTES = 64 << 20  # SQLITE_LIMIT_LENGTH: the longest string or blob read
PROGRESS_STEPS = 20_000  # VM instructions between two time checks


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        dec = decode.decode_bytes(value)
        return dec.text or ""  # a binary blob (an image, a key) has no text to scan
    return str(value)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_parts(data: bytes, budget: TextBudget) -> Iterator[Part]:
    """One part per table, ``!table:NAME``: a header line of column names, then a
    line per row. Raises ExtractError for a file SQLite cannot read."""
    if len(data) >= 20 and data[18:20] == b"\x02\x02":
        # WAL mode (file format 2): an in-memory copy has no -wal file; read it as legacy
        data = data[:18] + b"\x01\x01" + data[20:]
    conn = sqlite3.connect(":memory:")
    conn.text_factory = _cell  # TEXT that is not UTF-8 (cp1252 exports) decodes like a file
    try:
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        conn.set_progress_handler(lambda: _past(budget), PROGRESS_STEPS)
        try:
            conn.deserialize(data)
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA trusted_schema = OFF")
            tables = conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY rowid"
            ).fetchall()
        except sqlite3.Error as exc:
            raise ExtractError(_reason(exc, budget)) from None
        for name, sql in tables:
            if (sql or "").lstrip().upper().startswith("CREATE VIRTUAL"):
                continue
            try:
                yield Part(f"!table:{name}", _table_text(conn, name, budget), "sqlite")
            except ExtractError as exc:
                if not exc.reason.startswith("extraction failed"):
                    raise  # out of time or budget: the rest of the database too
                yield Part(f"!table:{name}", "", "sqlite", exc.reason)
    finally:
        conn.close()


def _table_text(conn: sqlite3.Connection, name: str, budget: TextBudget) -> str:
    lines: list[str] = []
    try:
        cur = conn.execute(f"SELECT * FROM {_quoted(name)}")  # noqa: S608 - a quoted identifier
        header = "\t".join(d[0] for d in cur.description or ())
        budget.take(len(header) + 1)
        lines.append(header)
        while rows := cur.fetchmany(1000):
            for row in rows:
                line = "\t".join(_cell(v) for v in row)
                budget.take(len(line) + 1)
                lines.append(line)
    except sqlite3.Error as exc:
        raise ExtractError(_reason(exc, budget)) from None
    return "\n".join(lines) + "\n"


def _past(budget: TextBudget) -> int:
    """Progress handler: non-zero interrupts the running statement."""
    try:
        budget.check_time("SQLite")
    except ExtractError:
        return 1
    return 0


def _reason(exc: sqlite3.Error, budget: TextBudget) -> str:
    if isinstance(exc, sqlite3.OperationalError) and str(exc) == "interrupted":
        return time_limit("SQLite", budget.timeout_s)
    return failed("sqlite", exc)
