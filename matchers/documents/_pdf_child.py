"""Child process of `matchers.documents.pdf`: PDF bytes in, text out, nothing else.

Run as ``python -I _pdf_child.py`` (isolated: no PYTHONPATH, no current directory
on sys.path). Reads from stdin a 4-byte big-endian header length, a JSON header
({"max_chars": N, "memory_bytes": N, "passwords": [...]}) and the PDF's bytes.
Writes to stdout one status line, then the text as UTF-8 (pages separated by form
feeds): "ok P N" or "cut P N" (text limit reached; P pages read, N of them pictures
without text: a scan), "encrypted" or "error TYPE" (an exception type name, never a
message: messages can quote the document). pypdf's own warnings go to stderr, which
the parent throws away.
"""

import io
import json
import resource
import struct
import sys

# A page with fewer characters than this (a page number, a stamp) and a picture is a
# scanned page: its text is in the picture.
MIN_PAGE_TEXT = 20


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
        texts, chars, status, pictures = [], 0, "ok", 0
        for page in reader.pages:
            text = page.extract_text() or ""
            chars += len(text) + 1
            texts.append(text)
            if len("".join(text.split())) < MIN_PAGE_TEXT and _has_picture(page):
                pictures += 1
            if chars > header["max_chars"]:
                status = "cut"
                break
        out.write(f"{status} {len(texts)} {pictures}\n".encode()
                  + "\f".join(texts).encode("utf-8", "replace"))
    except BaseException as exc:  # noqa: BLE001 - reported by type name only
        out.write(f"error {type(exc).__name__}\n".encode())


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
