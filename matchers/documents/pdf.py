"""PDF text with pypdf, in a child process that a time and a memory limit end.

pypdf is pure Python (BSD licensed, maintained, no native parser to exploit);
pdfminer.six extracts layout better but is several times slower, and layout is
not what a scan needs. A hostile PDF can still make any parser loop or allocate
(cyclic object graphs, deflate bombs in content streams), so the work runs in a
separate interpreter: killed after `timeout_s`, capped in address space, and
nothing of it (warnings, messages) reaches vahti's output — only a status line and
the text. Starting the child costs about 0.2 s per PDF.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import sys
import time
from collections.abc import Iterator

from . import ExtractError, Part, TextBudget, failed, file_name, time_limit

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_pdf_child.py")
MEMORY_FLOOR = 1 << 30  # address space for the child beyond a few copies of the input


def pdf_parts(data: bytes, budget: TextBudget,
              passwords: tuple[str, ...] = ()) -> Iterator[Part]:
    """The document's text as one part; ExtractError when it cannot be had, or after
    the part when the text outgrew the budget (cut at a page)."""
    remaining = max(0.0, budget.deadline - time.monotonic())
    header = json.dumps({"max_chars": budget.max_chars - budget.used,
                         "max_file_bytes": budget.max_chars,
                         "memory_bytes": MEMORY_FLOOR + 4 * len(data),
                         "passwords": list(passwords)}).encode()
    try:
        done = subprocess.run(
            [sys.executable, "-I", CHILD], input=struct.pack(">I", len(header)) + header + data,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=remaining, check=False,
        )
    except subprocess.TimeoutExpired:
        raise ExtractError(time_limit("PDF", budget.timeout_s)) from None
    line, _, rest = done.stdout.partition(b"\n")
    if line == b"encrypted":
        raise ExtractError("encrypted: password-protected PDF")
    if line.startswith(b"error "):
        raise ExtractError(failed("pdf", line[6:60].decode("ascii", "replace")))
    status, pages, pictures, glyphs = (line.split() + [b"", b"", b"", b""])[:4]
    if status not in (b"ok", b"cut") or not all(x.isdigit() for x in (pages, pictures, glyphs)):
        raise ExtractError(failed("pdf", f"child exit {done.returncode}"))  # killed, crashed
    extras_line, _, body = rest.partition(b"\n")
    try:
        extras = json.loads(extras_line)
    except ValueError:
        raise ExtractError(failed("pdf", "child output")) from None
    n_pages, n_pictures, n_glyphs = int(pages), int(pictures), int(glyphs)
    # scanned pages: their text is in pictures, which are not read
    unread = (f"binary: PDF pages that are pictures without text (a scan?), {n_pictures} "
              f"of {n_pages}: not read (no OCR)")
    text = body.decode("utf-8", "replace")
    if n_pictures and n_pictures == n_pages:
        yield Part("", "", "pdf", reason=unread)
    else:
        yield Part("", text, "pdf")
    if n_pictures and n_pictures < n_pages:
        yield Part("!pictures", "", "pdf", reason=unread)
    if n_glyphs:
        # what of their text was letters was read with the rest
        yield Part("!glyphs", "", "pdf", reason=(
            f"binary: PDF pages whose text is glyph numbers, not letters (a font without a "
            f"Unicode map), {n_glyphs} of {n_pages}: not read"))
    # what no page shows: the document's properties, a form's values, links' targets
    for name in ("properties", "form", "links"):
        extra = extras.get(name) if isinstance(extras, dict) else None
        if isinstance(extra, str) and extra:
            budget.take(len(extra))
            yield Part(f"!{name}", extra, "pdf")
    yield from _attached(extras.get("files") if isinstance(extras, dict) else None, budget)
    budget.take(len(text) + (budget.max_chars + 1 if status == b"cut" else 0))


def _attached(files: object, budget: TextBudget) -> Iterator[Part]:
    """The files attached to the document (`!NAME`, by their file name, or
    `!attachment:N`), each to be read as an input of its own."""
    for n, entry in enumerate(files if isinstance(files, list) else [], 1):
        if not (isinstance(entry, list) and len(entry) == 2):
            continue
        name, content = entry
        if isinstance(content, str) and content.startswith("error "):
            yield Part("!attachments", "", "pdf", reason=failed("pdf attachments", content[6:60]))
            continue
        suffix = f"!{file_name(name) or f'attachment:{n}'}"
        if content is None:
            yield Part(suffix, "", "pdf", reason=f"too large: files attached to a PDF over "
                                                 f"{budget.max_chars} bytes in all")
            continue
        yield Part(suffix, "", "pdf", data=base64.b64decode(str(content)))
