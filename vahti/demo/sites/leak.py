"""A ransomware-style leak site: victims, and directory trees of stolen files.

    GET /                        the victims: <a href="/victim/NAME/">
    GET /victim/NAME/            a victim's page: description, <a href="files/...">
                                 for each top-level entry, links to mirrors elsewhere
    GET /victim/NAME/files/...   autoindex pages (nginx style) for directories, the
                                 file for files; a directory without its slash gets
                                 301 to the slashed URL

Files are bytes held in memory, or "big" files generated on the fly chunk by
chunk (`add_big_file`), so a multi-gigabyte file for truncation tests costs no
memory. Some links leave the host (`http://other.example/...`, see
`external_links`): a crawler must not follow them.

`LeakSite.standard(dump_csv, ...)` builds the usual layout (see `standard`).
"""

from __future__ import annotations

import gzip
import html
import io
import random
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

import py7zr

from vahti.demo.sites.base import (
    HTML,
    Request,
    Response,
    SiteServer,
    html_response,
    method_not_allowed,
    not_found,
    page,
    redirect,
)
from vahti.demo.synthetic import noise_line

MiB = 1 << 20
EXTERNAL = "http://other.example"
# Archive members get this timestamp, so the same seed gives the same bytes.
FIXED_DATE = (2023, 10, 2, 3, 4, 6)
FIXED_TS = 1696215846.0

CHUNK = 64 * 1024


@dataclass
class _File:
    content_type: str
    size: int
    data: bytes | None = None  # small files
    head: bytes = b""  # big files: head + filler + tail, `size` bytes in all
    tail: bytes = b""
    filler: bytes = b""

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            for i in range(0, len(self.data), CHUNK):
                yield self.data[i:i + CHUNK]
            return
        yield self.head
        left = self.size - len(self.head) - len(self.tail)
        n = len(self.filler)
        offset = 0
        while left > 0:
            start = offset % n
            piece = self.filler[start:start + min(left, CHUNK, n - start)]
            yield piece
            left -= len(piece)
            offset += len(piece)
        yield self.tail


@dataclass
class Victim:
    name: str
    title: str
    description: str
    links: list[tuple[str, str]] = field(default_factory=list)  # (href, text), off-site


class LeakSite(SiteServer):
    """A leak site on 127.0.0.1. Content is added with `add_victim`, `add_file`,
    `add_big_file` and `add_page` (also while it runs)."""

    def __init__(self, *, title: str = "KUUTAMO leaks", seed: int = 0, slow_ms: int = 0,
                 port: int = 0):
        self.title = title
        self.seed = seed
        self._lock = threading.Lock()
        self._files: dict[str, _File] = {}
        self._pages: dict[str, str] = {}
        self._victims: dict[str, Victim] = {}
        self.layout: dict[str, str] = {}  # what `standard` put where: role -> path
        self.external_links: list[str] = [f"{EXTERNAL}/", f"{EXTERNAL}/contact"]
        super().__init__(port=port, slow_ms=slow_ms)

    # -- content ---------------------------------------------------------------

    def add_victim(self, name: str, title: str | None = None, description: str = "",
                   links: Sequence[tuple[str, str]] = ()) -> str:
        """A victim listed on / with a page at /victim/NAME/; `links` are (href,
        text) shown there (mirrors elsewhere). Returns the page's path."""
        with self._lock:
            self._victims[name] = Victim(name, title or name, description, list(links))
            for href, _ in links:
                if href.startswith(("http://", "https://")):
                    self.external_links.append(href)
        return f"/victim/{name}/"

    def add_file(self, path: str, data: bytes,
                 content_type: str = "application/octet-stream") -> str:
        with self._lock:
            self._files[_clean(path)] = _File(content_type, len(data), data=bytes(data))
        return path

    def add_big_file(self, path: str, size: int, *, head: bytes = b"", tail: bytes = b"",
                     content_type: str = "text/plain; charset=utf-8",
                     seed: int | None = None) -> str:
        """A file of exactly `size` bytes: `head`, then filler text lines, then
        `tail`, generated while it is sent. Put an identifier in `tail` to test
        that a crawler truncating at N bytes does not see it."""
        if len(head) + len(tail) > size:
            raise ValueError("head and tail are longer than size")
        rng = random.Random(self.seed if seed is None else seed)
        lines, length = [], 0
        while length < CHUNK:  # one chunk of filler, repeated
            line = noise_line(rng)
            if "@" in line or "puh." in line:
                continue  # no contact details: only head and tail hold identifiers
            lines.append(line)
            length += len(line.encode()) + 1
        filler = ("\n".join(lines) + "\n").encode("utf-8")
        with self._lock:
            self._files[_clean(path)] = _File(content_type, size, head=head, tail=tail,
                                              filler=filler)
        return path

    def add_page(self, path: str, document: str) -> str:
        """An HTML page at `path` (a path ending in / replaces that directory's index)."""
        with self._lock:
            self._pages[_clean(path)] = document
        return path

    def file_paths(self) -> list[str]:
        with self._lock:
            return sorted(self._files)

    # -- HTTP ------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed()
        path = request.path
        with self._lock:
            document = self._pages.get(path)
            file = self._files.get(path)
        if document is not None:
            return html_response(document)
        if file is not None:
            return Response(200, content_type=file.content_type, stream=file.chunks(),
                             length=file.size, headers=[("Accept-Ranges", "none")])
        if path == "/":
            return self._index()
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "victim" and path.endswith("/"):
            with self._lock:
                victim = self._victims.get(parts[1])
            if victim is not None:
                return self._victim_page(victim)
        if path.endswith("/"):
            entries = self._children(path)
            if entries:
                return self._autoindex(path, entries)
            return not_found()
        with self._lock:
            is_victim = len(parts) == 2 and parts[0] == "victim" and parts[1] in self._victims
        if is_victim or self._children(path + "/"):
            return redirect(quote(path) + "/", 301)  # as nginx does for directories
        return not_found()

    def _children(self, directory: str) -> list[tuple[str, bool, int]]:
        """Immediate entries of a directory: (name, is_dir, size), directories first."""
        found: dict[str, tuple[bool, int]] = {}
        with self._lock:
            paths = [(p, f.size) for p, f in self._files.items()]
            paths += [(p, len(d.encode())) for p, d in self._pages.items()]
        for p, size in paths:
            if p.startswith(directory) and p != directory:
                rest = p[len(directory):]
                name, sep, _ = rest.partition("/")
                if name:
                    found[name] = (bool(sep), size)
        return sorted(((n, d, s) for n, (d, s) in found.items()), key=lambda e: (not e[1], e[0]))

    def _index(self) -> Response:
        with self._lock:
            victims = list(self._victims.values())
        rows = "\n".join(
            f'<div class="victim"><h2><a href="/victim/{quote(v.name)}/">'
            f"{html.escape(v.title)}</a></h2><p>{html.escape(v.description)}</p></div>"
            for v in victims
        )
        body = (f"<h1>{html.escape(self.title)}</h1>\n{rows}\n"
                f'<footer><a href="{EXTERNAL}/">our blog</a> | '
                f'<a href="{EXTERNAL}/contact">contact</a></footer>')
        return html_response(page(self.title, body))

    def _victim_page(self, victim: Victim) -> Response:
        base = f"/victim/{victim.name}/files/"
        items = "\n".join(
            f'<li><a href="files/{quote(name)}{"/" if is_dir else ""}">'
            f'{html.escape(name)}{"/" if is_dir else ""}</a>'
            f'{"" if is_dir else f" ({_size(size)})"}</li>'
            for name, is_dir, size in self._children(base)
        )
        links = "\n".join(f'<li><a href="{html.escape(href)}">{html.escape(text)}</a></li>'
                          for href, text in victim.links)
        body = (f'<p><a href="/">All victims</a></p>\n<h1>{html.escape(victim.title)}</h1>\n'
                f"<p>{html.escape(victim.description)}</p>\n<h2>Files</h2>\n"
                f'<ul class="files">\n{items}\n</ul>\n'
                + (f'<h2>Mirrors</h2>\n<ul class="mirrors">\n{links}\n</ul>' if links else ""))
        return html_response(page(victim.title, body))

    def _autoindex(self, directory: str, entries: list[tuple[str, bool, int]]) -> Response:
        stamp = time.strftime("%d-%b-%Y %H:%M", time.gmtime(FIXED_TS))
        lines = ['<a href="../">../</a>']
        for name, is_dir, size in entries:
            shown = name + ("/" if is_dir else "")
            lines.append(f'<a href="{quote(shown)}">{html.escape(shown)}</a>'
                         f"{' ' * max(1, 50 - len(shown))}{stamp} {'-' if is_dir else size:>19}")
        title = f"Index of {directory}"
        body = f"<h1>{html.escape(title)}</h1><hr><pre>{chr(10).join(lines)}\n</pre><hr>"
        return Response(200, page(title, body).encode(), HTML)

    # -- the usual layout --------------------------------------------------------

    @classmethod
    def standard(cls, dump_csv: str, *, nested_csv: str | None = None,
                 tar_text: str | None = None, sevenz_text: str | None = None,
                 cp1252_text: str | None = None, big_size: int = 4 * MiB,
                 big_head: str = "", big_tail: str = "", victim: str = "acme-terapia",
                 seed: int = 0, slow_ms: int = 0, port: int = 0) -> LeakSite:
        """A leak site with one victim holding every kind of file, and a second
        victim with nothing of interest. `site.layout` maps roles to paths:

            victim    /victim/acme-terapia/                          (mirror links off-site)
            zip       .../files/db/asiakkaat.zip     export/asiakkaat.csv = dump_csv, and
                                                     export/vanhat/2019.zip (nested) holding
                                                     asiakkaat_2019.csv = nested_csv, if given
            tar       .../files/db/backup.tar.gz     backup/notes.txt = tar_text
            7z        .../files/db/backup.7z         notes.txt = sevenz_text
            cp1252    .../files/LUEMINUT.txt         cp1252_text in cp1252, served as
                                                     "text/plain" (no charset, as servers do)
            junk      .../files/hr/2023/q4/palkat.bin  random bytes
            big       .../files/full_dump.sql        big_size bytes: big_head, filler, big_tail
            external  .../files/mirrors.html         a page linking off-site only
            other     /victim/nordic-logistics/      one filler text file

        Texts not given are filler without identifiers."""
        rng = random.Random(seed)
        site = cls(seed=seed, slow_ms=slow_ms, port=port)

        def filler(lines: int = 40) -> str:
            out = []
            while len(out) < lines:
                line = noise_line(rng)
                if "@" not in line and "puh." not in line:
                    out.append(line)
            return "\n".join(out) + "\n"

        root = f"/victim/{victim}/"
        files = root + "files/"
        mirror = f"{EXTERNAL}/mirror/{victim}.zip"
        site.add_victim(victim, "Acme Terapia Oy",
                        "Psychotherapy clinic. 40 GB of patient records. Deadline passed.",
                        [(mirror, "mirror 1"), (f"{EXTERNAL}/torrent/{victim}", "torrent")])
        members = {"export/asiakkaat.csv": dump_csv.encode("utf-8")}
        if nested_csv is not None:
            members["export/vanhat/2019.zip"] = _zip(
                {"asiakkaat_2019.csv": nested_csv.encode("utf-8")})
        members["export/README.txt"] = filler(5).encode()
        site.layout = {
            "victim": root,
            "zip": site.add_file(files + "db/asiakkaat.zip", _zip(members), "application/zip"),
            "tar": site.add_file(files + "db/backup.tar.gz",
                                 _targz({"backup/notes.txt": (tar_text or filler()).encode()}),
                                 "application/gzip"),
            "7z": site.add_file(files + "db/backup.7z",
                                _7z({"notes.txt": (sevenz_text or filler()).encode()}),
                                "application/x-7z-compressed"),
            "cp1252": site.add_file(files + "LUEMINUT.txt", _cp1252(cp1252_text or filler()),
                                    "text/plain"),
            "junk": site.add_file(files + "hr/2023/q4/palkat.bin", rng.randbytes(48 * 1024)),
            "big": site.add_big_file(files + "full_dump.sql", big_size,
                                     head=big_head.encode(), tail=big_tail.encode(), seed=seed),
        }
        offsite = [f"{EXTERNAL}/files/{victim}/part1.rar", f"https://other.example/{victim}"]
        site.external_links += offsite
        site.layout["external"] = site.add_page(files + "mirrors.html", page("Mirrors", "\n".join(
            f'<p><a href="{u}">{u}</a></p>' for u in offsite)))
        site.add_victim("nordic-logistics", "Nordic Logistics Ab",
                        "Freight forwarder. Negotiations failed.")
        site.layout["other"] = "/victim/nordic-logistics/"
        site.add_file("/victim/nordic-logistics/files/invoices.txt", filler(200).encode(),
                      "text/plain; charset=utf-8")
        return site


def _clean(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"paths start with /: {path!r}")
    return path


def _size(n: int) -> str:
    return f"{n / MiB:.1f} MB" if n >= MiB else f"{n / 1024:.1f} kB"


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, FIXED_DATE), data, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _targz(members: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), int(FIXED_TS), 0o644
            tf.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=int(FIXED_TS)) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _7z(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as archive:
        for name, data in members.items():
            archive.writestr(data, name)
    return buf.getvalue()


def _cp1252(text: str) -> bytes:
    # A header with characters that only cp1252 has (not latin-1), so the file
    # is unmistakably cp1252 and not valid UTF-8.
    header = "Luottamuksellinen – “älä jaa” – hinta 12 € / kk\n"
    return (header + text).encode("cp1252")
