"""Office Open XML (docx, xlsx, pptx) and OpenDocument (odt, ods, odp): text from their XML.

Both are zip files of XML parts; `matchers.archives` recognises them by their
member names and hands over a reader that applies the archive-bomb limits to
every part it inflates. Text is the character data of the text elements, with a
line break after each paragraph or row and a tab after each cell, so a code
written across several formatting runs (``<w:t>131052-</w:t><w:t>308T</w:t>``)
is one word again and a row's name stays next to its code.

The XML is parsed with stdlib expat and any DTD is refused: without one there
are no entity declarations, so nothing can expand (billion laughs) or fetch
(external entities). defusedxml would do the same for ElementTree, but a tree
costs memory in proportion to a sheet's size; expat's callbacks stream.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from xml.parsers import expat

from . import ExtractError, Part, TextBudget, failed

PARSE_STEP = 1 << 20  # bytes of XML fed to expat between two budget checks
_ODF_MIME = "application/vnd.oasis.opendocument."
_ODF_KINDS = {"text": "odt", "spreadsheet": "ods", "presentation": "odp"}


class _Refused(Exception):
    """A DTD or entity declaration in an Office part."""


def office_kind(names: list[str], read: Callable[[str], bytes]) -> str | None:
    """The Office format of a zip with these member names, or None for a plain zip."""
    have = set(names)
    if "word/document.xml" in have:
        return "docx"
    if "xl/workbook.xml" in have:
        return "xlsx"
    if "ppt/presentation.xml" in have:
        return "pptx"
    if "mimetype" in have and "content.xml" in have:
        mime = read("mimetype")[:100].decode("ascii", "replace").strip()
        if mime.startswith(_ODF_MIME):
            return _ODF_KINDS.get(mime[len(_ODF_MIME):].split(".")[0], "odf")
    return None


# Files embedded in a document (a workbook in a letter, an OLE object's wrapper): Office
# Open XML keeps them in its embeddings folders, OpenDocument an OLE object as "Object N"
# (an embedded OpenDocument object is a folder of its own: `_odf` reads its text).
_EMBEDDED = {"docx": r"word/embeddings/[^/]+", "xlsx": r"xl/embeddings/[^/]+",
             "pptx": r"ppt/embeddings/[^/]+"}
_ODF_OBJECT = r"Object \d+"


def is_embedded(kind: str, name: str) -> bool:
    """Is this member of an Office document a file embedded in it, to read as an input
    of its own?"""
    return re.fullmatch(_EMBEDDED.get(kind, _ODF_OBJECT), name) is not None


def office_parts(kind: str, names: list[str], read: Callable[[str], bytes],
                 budget: TextBudget) -> Iterator[Part]:
    """The text parts of an Office document. `read(name)` inflates one member under
    the archive limits (and raises what they raise)."""
    try:
        if kind == "xlsx":
            yield from _xlsx(names, read, budget)
        elif kind in ("docx", "pptx"):
            yield _or_pictures(Part("", _ooxml_text(kind, names, read, budget), kind), names)
        else:
            for part in _odf(kind, names, read, budget):
                yield _or_pictures(part, names) if part.suffix == "" else part
        yield from _unshown(kind, names, read, budget)
    except _Refused:
        raise ExtractError(failed(kind, "DTD refused")) from None
    except expat.ExpatError as exc:
        raise ExtractError(failed(kind, exc)) from None


# A document with less text than this and pictures is a scan (its text is in them).
MIN_TEXT = 20
_PICTURES = re.compile(r"(?:word/media|ppt/media|Pictures)/[^/]+\.(?:png|jpe?g|tiff?|gif|bmp"
                       r"|emf|wmf|jp2)", re.IGNORECASE)


def _or_pictures(part: Part, names: list[str]) -> Part:
    """A document whose text is pictures (scanned pages pasted into a Word file, photos
    of papers in a presentation) says so: its pictures are not read."""
    if len("".join(part.text.split())) >= MIN_TEXT:
        return part
    pictures = sum(1 for n in names if _PICTURES.fullmatch(n))
    if not pictures:
        return part
    counted = f"{pictures} picture{'s' if pictures != 1 else ''}"
    return Part("", "", part.fmt, reason=f"binary: {part.fmt} of pictures without text "
                                         f"(a scan?), {counted}: not read (no OCR)")


_XLINK_HREF = "http://www.w3.org/1999/xlink}href"
_NOT_LINKS = ("#", "./", "Pictures/", "Object")  # within the document: a bookmark, an object


# -- what the document does not show -----------------------------------------------------

# OOXML: the comments of a workbook's cells (old and threaded) and of a presentation.
_COMMENTS = {"xlsx": (r"xl/comments\d*\.xml", r"xl/threadedComments/[^/]+\.xml"),
             "pptx": (r"ppt/comments/[^/]+\.xml",)}
# Properties that are no one's data: dates, counts, the writing program.
_NOT_PROPERTIES = {"created", "modified", "lastPrinted", "revision", "TotalTime", "generator",
                   "creation-date", "date", "print-date", "editing-cycles", "editing-duration",
                   "document-statistic", "template"}


def _unshown(kind: str, names: list[str], read: Callable[[str], bytes],
             budget: TextBudget) -> Iterator[Part]:
    """What a reader of the document does not see on its pages, each a part of its own:
    the document's properties (``!properties``: title, subject, author, keywords, its
    writer's own fields; a letter's title is often its patient's name), the targets of
    its links (``!links``: a mailto link shows a name, not the address) and the comments
    of a workbook's cells or a presentation's slides (``!comments``)."""
    if kind in ("docx", "xlsx", "pptx"):
        props = [n for n in ("docProps/core.xml", "docProps/custom.xml") if n in names]
        texts = [_element_texts(read(n), budget, kind) for n in props]
        if "docProps/app.xml" in names:  # of its counts and names, the organisation's
            texts.append(_element_texts(read("docProps/app.xml"), budget, kind,
                                        only={"Company", "Manager"}))
        links = [rel.get("Target", "") for n in names
                 if n.endswith(".rels") and n != "_rels/.rels"
                 for rel in _attributes(read(n), "Relationship")
                 if rel.get("TargetMode") == "External"]
        comments = [_element_texts(read(n), budget, kind, only={"t", "text"})
                    for pattern in _COMMENTS.get(kind, ()) for n in names
                    if re.fullmatch(pattern, n)]
        yield from _links(links, kind, budget)
    else:  # (an annotation is in content.xml, read with the text; links: `_odf`)
        texts = [_element_texts(read("meta.xml"), budget, kind)] if "meta.xml" in names else []
        comments = []
    yield from _part("!properties", "".join(texts), kind)
    yield from _part("!comments", "".join(comments), kind)


def _part(suffix: str, text: str, kind: str) -> Iterator[Part]:
    if text:
        yield Part(suffix, text, kind)


def _links(links: list[str], kind: str, budget: TextBudget) -> Iterator[Part]:
    text = "".join(f"{link}\n" for link in links if link.strip())
    budget.take(len(text))
    yield from _part("!links", text, kind)


def _element_texts(data: bytes, budget: TextBudget, kind: str,
                   only: set[str] | None = None) -> str:
    """The text of each element (of the local names `only`, or of any but
    `_NOT_PROPERTIES`), a line each."""
    lines: list[str] = []
    stack: list[list[str]] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        stack.append([])

    def end(name: str) -> None:
        text = "".join(stack.pop()).strip()
        local = name.rsplit("}", 1)[-1]
        if text and (local in only if only is not None else local not in _NOT_PROPERTIES):
            lines.append(text + "\n")

    def chars(s: str) -> None:
        if stack:
            stack[-1].append(s)

    parser = _parser()
    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.CharacterDataHandler = chars
    for pos in range(0, max(len(data), 1), PARSE_STEP):
        parser.Parse(data[pos : pos + PARSE_STEP], pos + PARSE_STEP >= len(data))
        budget.check_time(kind)
    text = "".join(lines)
    budget.take(len(text))
    return text


# -- a streaming XML-to-text walker ------------------------------------------------------


class _Walker:
    """Character data inside `text` elements; a line break after `lines` elements, a
    tab after `cells`; `breaks`/`tabs`/`spaces` are empty elements standing for one. With
    `split`, each such element (a sheet) starts a new part named by its `name`."""

    def __init__(self, text: set[str], lines: set[str], cells: set[str],
                 breaks: frozenset[str] | set[str] = frozenset(),
                 tabs: frozenset[str] | set[str] = frozenset(),
                 spaces: frozenset[str] | set[str] = frozenset(),
                 split: str | None = None) -> None:
        self.text, self.lines, self.cells = text, lines, cells
        self.breaks, self.tabs, self.spaces, self.split = breaks, tabs, spaces, split
        self.inside = 0
        self.links: list[str] = []  # OpenDocument's link targets (xlink:href)
        self.out: list[str] = []
        self.parts: list[tuple[str, list[str]]] = []
        self.chars = 0

    def parse(self, data: bytes, budget: TextBudget, what: str) -> None:
        parser = _parser()
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.data
        for pos in range(0, max(len(data), 1), PARSE_STEP):
            before = self.chars
            parser.Parse(data[pos : pos + PARSE_STEP], pos + PARSE_STEP >= len(data))
            budget.take(self.chars - before)
            budget.check_time(what)

    def emit(self, s: str) -> None:
        self.out.append(s)
        self.chars += len(s)

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = name.rsplit("}", 1)[-1]
        href = attrs.get(_XLINK_HREF) if attrs else None
        if href is not None and not href.startswith(_NOT_LINKS):
            self.links.append(href)
        if local == self.split:
            sheet = next((v for k, v in attrs.items() if k.rsplit("}", 1)[-1] == "name"), "")
            self.out = []
            self.parts.append((sheet or str(len(self.parts) + 1), self.out))
        if local in self.text:
            self.inside += 1
        elif local in self.breaks:
            self.emit("\n")
        elif local in self.tabs:
            self.emit("\t")
        elif local in self.spaces:
            self.emit(" ")

    def end(self, name: str) -> None:
        local = name.rsplit("}", 1)[-1]
        if local in self.text:
            self.inside -= 1
        if local in self.lines:
            self.emit("\n")
        elif local in self.cells:
            self.emit("\t")

    def data(self, s: str) -> None:
        if self.inside > 0:
            self.emit(s)


def _parser() -> expat.XMLParserType:
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True

    def refuse(*_args: object) -> None:
        raise _Refused

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    return parser


def _numbered(names: list[str], pattern: str) -> list[str]:
    """Members matching `pattern` (one group: a number), in numeric order."""
    rx = re.compile(pattern)
    found = [(int(m.group(1)), n) for n in names if (m := rx.fullmatch(n))]
    return [n for _, n in sorted(found)]


# -- docx, pptx --------------------------------------------------------------------------

_DOCX_EXTRA = r"word/(?:header|footer|footnotes|endnotes|comments)(\d*)\.xml"


def _ooxml_text(kind: str, names: list[str], read: Callable[[str], bytes],
                budget: TextBudget) -> str:
    if kind == "docx":
        parts = ["word/document.xml"] + sorted(n for n in names if re.fullmatch(_DOCX_EXTRA, n))
        walker = _Walker(text={"t", "delText"}, lines={"p"}, cells={"tc"},
                         breaks={"br", "cr"}, tabs={"tab"})
    else:
        parts = (_numbered(names, r"ppt/slides/slide(\d+)\.xml")
                 + _numbered(names, r"ppt/notesSlides/notesSlide(\d+)\.xml"))
        walker = _Walker(text={"t"}, lines={"p"}, cells={"tc"}, breaks={"br"})
    for name in parts:
        walker.parse(read(name), budget, kind)
        walker.emit("\n")
    return "".join(walker.out)


# -- xlsx: cells refer to a shared string table ------------------------------------------


class _SheetWalker(_Walker):
    """A worksheet: `<c t="s"><v>3</v></c>` is shared string 3, `t="inlineStr"` holds
    its text in `<is><t>`, anything else (numbers, formula results) is `<v>` as written."""

    def __init__(self, shared: list[str]) -> None:
        super().__init__(text={"v", "t"}, lines={"row"}, cells=set())
        self.shared = shared
        self.cell_type = ""
        self.value: list[str] = []

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if name.rsplit("}", 1)[-1] == "c":
            self.cell_type = attrs.get("t", "")
            self.value = []
        super().start(name, attrs)

    def end(self, name: str) -> None:
        if name.rsplit("}", 1)[-1] == "c":
            value = "".join(self.value)
            if self.cell_type == "s":
                index = int(value) if value.strip().isdigit() else -1
                value = self.shared[index] if 0 <= index < len(self.shared) else ""
            self.emit(value + "\t")
        super().end(name)

    def data(self, s: str) -> None:
        if self.inside > 0:
            self.value.append(s)


class _SharedStrings(_Walker):
    """xl/sharedStrings.xml: the text of each `<si>` (rich-text runs joined), without
    the phonetic readings (`<rPh>`) some East Asian workbooks add."""

    def __init__(self) -> None:
        super().__init__(text={"t"}, lines=set(), cells=set())
        self.items: list[str] = []
        self.phonetic = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.phonetic += name.rsplit("}", 1)[-1] == "rPh"
        super().start(name, attrs)

    def end(self, name: str) -> None:
        local = name.rsplit("}", 1)[-1]
        self.phonetic -= local == "rPh"
        if local == "si":
            self.items.append("".join(self.out))
            self.out.clear()
        super().end(name)

    def data(self, s: str) -> None:
        if not self.phonetic:
            super().data(s)


def _attributes(data: bytes, element: str) -> list[dict[str, str]]:
    """Attributes (local names) of every `element` in a small XML part."""
    found: list[dict[str, str]] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        if name.rsplit("}", 1)[-1] == element:
            found.append({k.rsplit("}", 1)[-1]: v for k, v in attrs.items()})

    parser = _parser()
    parser.StartElementHandler = start
    parser.Parse(data, True)
    return found


def _xlsx(names: list[str], read: Callable[[str], bytes], budget: TextBudget) -> Iterator[Part]:
    strings = _SharedStrings()
    if "xl/sharedStrings.xml" in names:
        strings.parse(read("xl/sharedStrings.xml"), budget, "xlsx")
    for sheet, member in _sheets(names, read):
        walker = _SheetWalker(strings.items)
        walker.parse(read(member), budget, "xlsx")
        yield Part(f"!sheet:{sheet}", "".join(walker.out), "xlsx")


def _sheets(names: list[str], read: Callable[[str], bytes]) -> list[tuple[str, str]]:
    """(sheet name, member) in workbook order; by file name when the workbook's
    relationships do not say."""
    have = set(names)
    targets = {}
    if "xl/_rels/workbook.xml.rels" in have:
        for rel in _attributes(read("xl/_rels/workbook.xml.rels"), "Relationship"):
            target = rel.get("Target", "")
            target = target.lstrip("/") if target.startswith("/") else "xl/" + target
            targets[rel.get("Id", "")] = target
    found = []
    for sheet in _attributes(read("xl/workbook.xml"), "sheet"):
        member = targets.get(sheet.get("id", ""))
        if member in have:
            found.append((sheet.get("name", member), member))
    if found:
        return found
    return [(n.rsplit("/", 1)[-1][:-4], n)
            for n in _numbered(names, r"xl/worksheets/sheet(\d+)\.xml")]


# -- OpenDocument ------------------------------------------------------------------------


def _odf(kind: str, names: list[str], read: Callable[[str], bytes],
         budget: TextBudget) -> Iterator[Part]:
    if "META-INF/manifest.xml" in names and b"encryption-data" in read("META-INF/manifest.xml"):
        raise ExtractError("encrypted: password-protected OpenDocument")
    if kind == "ods":  # a row per line, a cell's paragraphs side by side
        walker = _Walker(text={"p", "h"}, lines={"table-row"}, cells={"table-cell", "p"},
                         breaks={"line-break"}, tabs={"tab"}, spaces={"s"}, split="table")
    else:
        walker = _Walker(text={"p", "h"}, lines={"p", "h", "table-row"}, cells={"table-cell"},
                         breaks={"line-break"}, tabs={"tab"}, spaces={"s"})
    walker.parse(read("content.xml"), budget, kind)
    if walker.split is None:
        yield Part("", "".join(walker.out), kind)
    else:
        for sheet, out in walker.parts:
            yield Part(f"!sheet:{sheet}", "".join(out), kind)
    # embedded OpenDocument objects (a chart's table, a spreadsheet in a text): a
    # folder each, "Object 1/content.xml", its rows a line each
    for name in _numbered(names, r"Object (\d+)/content\.xml"):
        sub = _Walker(text={"p", "h"}, lines={"p", "h", "table-row"}, cells={"table-cell"},
                      breaks={"line-break"}, tabs={"tab"}, spaces={"s"})
        sub.parse(read(name), budget, kind)
        yield Part(f"!{name.split('/')[0]}", "".join(sub.out), kind)
        walker.links += sub.links
    yield from _links(walker.links, kind, budget)
