"""Legacy Excel workbooks (.xls, BIFF inside OLE2): every sheet's cells as tab-separated
text, one part per sheet, ``book.xls!sheet:Potilaat``.

Older patient systems and registers still export .xls. Read with xlrd (the workbook is
in memory already; xlrd's own warnings go nowhere, they may quote cells). A number that
is whole is written without its ".0" (a phone number kept as a number, 401234567), a
date cell as an ISO date (a birth date corroborates). An encrypted workbook is
reported as such; one xlrd cannot parse fails with the exception's type name only.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING

from . import ExtractError, Part, TextBudget, failed
from .ole import properties_part, reading

if TYPE_CHECKING:
    import olefile

# What a damaged workbook raises in xlrd's parsers, besides its own XLRDError.
_BROKEN = (struct.error, IndexError, KeyError, ValueError, TypeError, AssertionError,
           UnicodeDecodeError, EOFError, OverflowError, ZeroDivisionError, AttributeError)


def xls_parts(data: bytes, ole: olefile.OleFileIO, budget: TextBudget) -> Iterator[Part]:
    """One part per sheet (``!sheet:NAME``), a line per row, then the workbook's
    properties (`ole.properties_part`, from its open container `ole`: xlrd reads `data`
    with a compound-file reader of its own). Raises ExtractError for a workbook that
    cannot be opened."""
    import xlrd  # only when a workbook is read (its import is 30 ms)

    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True,
                                  logfile=io.StringIO(), verbosity=0)
    except (xlrd.XLRDError, xlrd.compdoc.CompDocError) as exc:
        if "encrypted" in str(exc).lower():
            raise ExtractError("encrypted: password-protected Excel workbook (.xls)") from None
        raise ExtractError(failed("xls", exc)) from None
    except _BROKEN as exc:
        raise ExtractError(failed("xls", exc)) from None
    broken = (xlrd.XLRDError, xlrd.compdoc.CompDocError, *_BROKEN)
    try:
        for i, name in enumerate(book.sheet_names()):
            budget.check_time("xls")
            suffix = f"!sheet:{name}"
            try:
                sheet = book.sheet_by_index(i)
                lines = []
                for r in range(sheet.nrows):
                    line = "\t".join(_cell(c, book.datemode, xlrd) for c in sheet.row(r))
                    budget.take(len(line) + 1)
                    lines.append(line)
                    if r % 4096 == 0:
                        budget.check_time("xls")
            except broken as exc:
                yield Part(suffix, "", "xls", reason=failed("xls", exc))
                continue
            finally:
                book.unload_sheet(i)
            yield Part(suffix, "\n".join(lines) + "\n" if lines else "", "xls")
    finally:
        book.release_resources()
    with reading("xls"):
        properties = list(properties_part(ole, "xls"))
    yield from properties


def _cell(cell, datemode: int, xlrd) -> str:  # noqa: ANN001  (xlrd is imported lazily)
    kind, value = cell.ctype, cell.value
    if kind == xlrd.XL_CELL_TEXT:
        return value
    if kind == xlrd.XL_CELL_NUMBER:
        return str(int(value)) if value.is_integer() and abs(value) < 1e17 else repr(value)
    if kind == xlrd.XL_CELL_DATE:
        try:
            when = xlrd.xldate_as_datetime(value, datemode)
        except (xlrd.xldate.XLDateError, ValueError, OverflowError):
            return repr(value)
        return when.date().isoformat() if when.time() == when.min.time() else when.isoformat()
    if kind == xlrd.XL_CELL_BOOLEAN:
        return "TRUE" if value else "FALSE"
    return ""  # empty, blank, an error code
