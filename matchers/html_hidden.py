"""What an HTML page holds that its reader does not see, read as text of its own.

Normalising a page for the text its reader sees (`normalize`, ``html_tags``) drops
its tags whole: their attributes (a form's ``value="..."``, ``href="mailto:..."``,
``title``, ``content``, ``data-*``), its comments, and the bodies of ``script`` and
``style``. A leak hides there as well as in the text: a saved form, a page's state as
JSON in a script, a mailto link, a table commented out. So the spans the normalisation
dropped as tags are read too, as plain text (entities and string escapes decoded, as in
any text): `hidden_text` joins them, one a line, and maps offsets in the joined text back
to the page. No character is read by both: the page's text has none of a tag's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import native

# A tag shorter than this ("</span>", "<br/>", "<td>") is a name without a value: it
# can hold no identifier, nor words, and most tags of a page are such.
MIN_TAG_CHARS = 10


@dataclass(frozen=True)
class HiddenText:
    """The hidden spans of a page, joined by newlines, and where each came from."""

    text: str
    at: np.ndarray  # per span: where it starts in `text` (int64, ascending)
    source: np.ndarray  # per span: where it starts in the page

    def to_page(self, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Page offsets of non-empty spans ``[starts, ends)`` of `text` (a span that goes
        over a line's end into the next tag ends where the next tag's part ends)."""
        s = np.asarray(starts, dtype=np.int64)
        e = np.asarray(ends, dtype=np.int64)
        k = np.searchsorted(self.at, s, "right") - 1
        j = np.searchsorted(self.at, e - 1, "right") - 1
        return self.source[k] + (s - self.at[k]), self.source[j] + (e - self.at[j])


def hidden_text(page: str, matched: np.ndarray | None) -> HiddenText | None:
    """The tags among `matched` (a normalisation's matched input spans, see
    `Normalized.matched`; only a tag starts with "<") that can hold something, as one
    text; None when there is none."""
    if matched is None or not len(matched):
        return None
    c_parts = getattr(native.lib, "tag_parts", None)
    if c_parts is not None:  # a page has a tag every few dozen characters: one pass in C
        got = c_parts(page, np.ascontiguousarray(matched, dtype=np.int64), MIN_TAG_CHARS)
        if got is None:
            return None
        text, at, source = got
        return HiddenText(text, np.frombuffer(at, dtype=np.int64),
                          np.frombuffer(source, dtype=np.int64))
    return _hidden_text_python(page, matched)


def _hidden_text_python(page: str, matched: np.ndarray) -> HiddenText | None:
    """`hidden_text` without the C extension."""
    long = matched[(matched[:, 1] - matched[:, 0]) >= MIN_TAG_CHARS]
    spans = [(a, b) for a, b in long.tolist() if page[a] == "<"]
    if not spans:
        return None
    parts = [page[a:b] for a, b in spans]
    lengths = np.fromiter(map(len, parts), np.int64, len(parts))
    at = np.zeros(len(parts), dtype=np.int64)
    np.cumsum(lengths[:-1] + 1, out=at[1:])  # each part and its newline
    source = np.fromiter((a for a, _ in spans), np.int64, len(spans))
    return HiddenText("\n".join(parts), at, source)
