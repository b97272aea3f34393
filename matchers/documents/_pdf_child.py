"""Child process of `matchers.documents.pdf`: PDF bytes in, text out, nothing else.

Run as ``python -I _pdf_child.py`` (isolated: no PYTHONPATH, no current directory
on sys.path). Reads from stdin a 4-byte big-endian header length, a JSON header
({"max_chars": N, "max_file_bytes": N, "memory_bytes": N, "passwords": [...]}) and
the PDF's bytes. Writes to stdout one status line, then a line of JSON with the text
that is no page's (the document's properties, its form's field values, its links'
targets: "" when there are none) and the files attached to it (base64), then the
pages' text as UTF-8 (separated by form feeds). The status is "ok P N G" or "cut P N G"
(text limit reached; P pages read, N of them pictures without text: a scan, G of them
text in glyph codes: a font without a Unicode map),
"encrypted" or "error TYPE" (an exception type name, never a message: messages can
quote the document). pypdf's own warnings go to stderr, which the parent throws away.
"""

import base64
import io
import json
import resource
import struct
import sys

# A page with fewer characters than this (a page number, a stamp) and a picture is a
# scanned page: its text is in the picture.
MIN_PAGE_TEXT = 20
# A font without a Unicode map (no /ToUnicode, an Identity-H encoding: what some print
# drivers write) gives its glyph numbers as "text": for a subset font, small numbers,
# control characters where letters should be; a symbolic font, the Private Use Area.
# A page with this many of them, and this share of its text, says its text was not read.
MIN_GLYPH_CODES = 10
GLYPH_SHARE = 0.1
_GLYPH_CODES = frozenset(chr(c) for c in (*range(0x20), 0x7F, 0xFFFD)) - set("\t\n\r\f\v")


def main() -> None:
    stdin = sys.stdin.buffer
    (n,) = struct.unpack(">I", stdin.read(4))
    header = json.loads(stdin.read(n))
    limit = header["memory_bytes"]
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out = sys.stdout.buffer
    try:
        import pypdf

        reader = pypdf.PdfReader(io.BytesIO(stdin.read()))
        if reader.is_encrypted and not any(
            reader.decrypt(pw) for pw in ["", *header["passwords"]]
        ):
            out.write(b"encrypted\n")
            return
        texts, chars, status, pictures, glyphs = [], 0, "ok", 0, 0
        for page in reader.pages:
            text = page.extract_text() or ""
            chars += len(text) + 1
            texts.append(text)
            visible = "".join(text.split())
            if len(visible) < MIN_PAGE_TEXT and _has_picture(page):
                pictures += 1
            elif _glyph_codes(visible):
                glyphs += 1
            if chars > header["max_chars"]:
                status = "cut"
                break
        extras = {"properties": _properties(reader), "form": _form(reader),
                  "links": _links(reader), "files": _files(reader, header["max_file_bytes"])}
        out.write(f"{status} {len(texts)} {pictures} {glyphs}\n".encode()
                  + json.dumps(extras).encode() + b"\n"
                  + "\f".join(texts).encode("utf-8", "replace"))
    except BaseException as exc:  # noqa: BLE001 - reported by type name only
        out.write(f"error {type(exc).__name__}\n".encode())


# Dates, and the names of the programs that wrote the file: in every PDF, no one's data.
_NOT_TEXT = ("/CreationDate", "/ModDate", "/Creator", "/Producer")


def _lines(values) -> str:  # noqa: ANN001
    return "".join(f"{v}\n" for v in values if str(v).strip())


def _properties(reader) -> str:  # noqa: ANN001
    """The document information: title, author, subject, keywords, and any key of the
    writer's own (a title is often the patient's name and code)."""
    try:
        info = reader.metadata or {}
        return _lines(info[k] for k in info
                      if k not in _NOT_TEXT and isinstance(info[k], str))
    except Exception:  # noqa: BLE001 - a broken dictionary: its text is not had
        return ""


def _form(reader) -> str:  # noqa: ANN001
    """A filled-in form's values, each after its field's name. Page text does not hold
    them: a viewer draws them from the form, not from the page."""
    try:
        fields = reader.get_fields() or {}
    except Exception:  # noqa: BLE001
        return ""
    lines = []
    for name, field in list(fields.items())[:100_000]:
        try:
            value = field.get("/V")
            if isinstance(value, list):
                value = " ".join(map(str, value))
            if value is not None and str(value).strip():
                lines.append(f"{name}\t{str(value).removeprefix('/')}")
        except Exception:  # noqa: BLE001
            continue
    return _lines(lines)


def _links(reader) -> str:  # noqa: ANN001
    """The targets of the pages' links (``mailto:``, a URL with a query)."""
    uris = []
    try:
        for page in reader.pages:
            for ref in page.get("/Annots") or ():
                try:
                    action = ref.get_object().get("/A")
                    uri = action.get_object().get("/URI") if action is not None else None
                    if isinstance(uri, str):
                        uris.append(uri)
                except Exception:  # noqa: BLE001
                    continue
    except Exception:  # noqa: BLE001
        pass
    return _lines(uris)


def _files(reader, max_bytes: int) -> list:  # noqa: ANN001
    """Files attached to the document (its embedded files, and attachment annotations
    on its pages): [name, base64 of the bytes] each; [name, None] for one that would
    take them over `max_bytes` in all (the child's memory holds them all at once);
    ["", "error TYPE"] when they could not be had."""
    found: list = []
    room = [max_bytes]

    def add(name: str, content) -> None:  # noqa: ANN001
        data = content()
        if len(data) > room[0]:
            found.append([name, None])
            return
        room[0] -= len(data)
        found.append([name, base64.b64encode(data).decode("ascii")])

    try:
        for entry in reader.attachment_list:
            add(entry.name, lambda e=entry: e.content)
        for page in reader.pages:
            for ref in page.get("/Annots") or ():
                annot = ref.get_object()
                if annot.get("/Subtype") != "/FileAttachment":
                    continue
                spec = annot["/FS"].get_object()
                name = str(spec.get("/UF") or spec.get("/F") or "")
                add(name, spec["/EF"].get_object()["/F"].get_object().get_data)
    except BaseException as exc:  # noqa: BLE001 - reported by type name only
        found.append(["", f"error {type(exc).__name__}"])
    return found


def _glyph_codes(visible: str) -> bool:
    """Is this page's "text" (without its white space) a font's glyph numbers rather
    than letters?"""
    codes = sum(ch in _GLYPH_CODES or "\ue000" <= ch <= "\uf8ff" for ch in visible)
    return codes >= MIN_GLYPH_CODES and codes >= GLYPH_SHARE * len(visible)


def _has_picture(page) -> bool:  # noqa: ANN001
    """Does the page draw an image (an image XObject in its resources, or in a form's)?"""
    todo, seen = [page.get("/Resources")], 0
    while todo and seen < 64:
        resources = todo.pop()
        seen += 1
        try:
            xobjects = resources.get_object().get("/XObject")
            for ref in (xobjects.get_object().values() if xobjects is not None else ()):
                obj = ref.get_object()
                if obj.get("/Subtype") == "/Image":
                    return True
                if obj.get("/Subtype") == "/Form" and obj.get("/Resources") is not None:
                    todo.append(obj.get("/Resources"))
        except Exception:  # noqa: BLE001 - a broken resource dictionary draws nothing known
            continue
    return False


if __name__ == "__main__":
    main()
