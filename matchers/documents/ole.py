"""OLE2 (Compound File) containers of the legacy Office formats, opened with olefile.

What a damaged or hostile container makes olefile raise is turned into ExtractError
with the exception's type name only: olefile's messages may quote stream names.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from . import ExtractError, failed

if TYPE_CHECKING:
    import olefile

# What olefile raises on a broken container or stream.
BROKEN = (OSError, struct.error, IndexError, KeyError, ValueError, TypeError,
          AssertionError, EOFError, OverflowError, RecursionError, UnicodeDecodeError,
          AttributeError, MemoryError)


@contextmanager
def open_ole(data: bytes, fmt: str) -> Iterator[olefile.OleFileIO]:
    """The container; a failure in it, or in the reading of its streams, raises
    ExtractError ("extraction failed: FMT (TYPE)")."""
    import olefile  # only when a legacy Office file is read

    try:
        ole = olefile.OleFileIO(data)
    except BROKEN as exc:
        raise ExtractError(failed(fmt, exc)) from None
    try:
        yield ole
    except BROKEN as exc:
        raise ExtractError(failed(fmt, exc)) from None
    finally:
        ole.close()


def read_stream(ole: olefile.OleFileIO, name: str, fmt: str) -> bytes:
    """A stream's bytes; its absence is "extraction failed: FMT (no NAME stream)"."""
    if not ole.exists(name) or ole.get_type(name) != 2:  # 2: STGTY_STREAM
        raise ExtractError(failed(fmt, f"no {name} stream"))
    return ole.openstream(name).read()
