"""Child process of `matchers.documents.pdf`: PDF bytes in, text out, nothing else.

Run as ``python -I _pdf_child.py`` (isolated: no PYTHONPATH, no current directory
on sys.path). Reads from stdin a 4-byte big-endian header length, a JSON header
({"max_chars": N, "memory_bytes": N, "passwords": [...]}) and the PDF's bytes.
Writes to stdout one status line, then the text as UTF-8 (pages separated by form
feeds): "ok", "cut" (text limit reached), "encrypted" or "error TYPE" (an
exception type name, never a message: messages can quote the document). pypdf's
own warnings go to stderr, which the parent throws away.
"""

import io
import json
import resource
import struct
import sys


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
        texts, chars, status = [], 0, "ok"
        for page in reader.pages:
            text = page.extract_text() or ""
            chars += len(text) + 1
            texts.append(text)
            if chars > header["max_chars"]:
                status = "cut"
                break
        out.write(status.encode() + b"\n" + "\f".join(texts).encode("utf-8", "replace"))
    except BaseException as exc:  # noqa: BLE001 - reported by type name only
        out.write(f"error {type(exc).__name__}\n".encode())


if __name__ == "__main__":
    main()
