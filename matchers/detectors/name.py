"""Person names: corroborating evidence only, never a finding on their own.

Canonical form: NFKC, case-folded, whitespace collapsed; accents are kept
("Mäkinen" and "Makinen" are different names). A register name is enrolled
in the orders a leak writes it: "first last", "last first" (also for
"Last, First" input), and each of those also in its `location_form`, the
spelling of file names and URLs: accents folded ("meikäläinen" ->
"meikalainen", "søren" -> "soren"), and every run of non-letters between
words ("-", "'", ".") one space ("anna meikäläinen-virtanen" -> "anna
meikalainen virtanen"). A folded name in text corroborates too.

`find` yields every run of one to three capitalised words, the candidates a
scan compares against the enrolled names of the person whose identifier was
found nearby.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from stdnum.exceptions import InvalidFormat

from ._common import validity_check

ID_TYPE = "name"
CORROBORATING = True

_WORD = r"[^\W\d_](?:[^\W\d_]|['’-](?=[^\W\d_]))*"
_WORD_RE = re.compile(_WORD)


def canonical(value: str) -> str:
    text = unicodedata.normalize("NFKC", value)
    text = " ".join(text.replace(",", " ").split()).casefold()
    if not text:
        raise InvalidFormat()
    return text


validate = canonical
compact = canonical


is_valid = validity_check(canonical)


def enrollment_forms(full_name: str) -> list[str]:
    """Canonical forms to enroll for one register name ("Last, First" understood)."""
    raw = unicodedata.normalize("NFKC", full_name)
    if "," in raw:
        last, _, first = raw.partition(",")
        parts = first.split() + last.split()
    else:
        parts = raw.split()
    if not parts:
        raise InvalidFormat()
    forms = {canonical(" ".join(parts))}
    if len(parts) >= 2:
        forms.add(canonical(" ".join([parts[-1], *parts[:-1]])))
        forms.add(canonical(" ".join([parts[0], parts[-1]])))
        forms.add(canonical(" ".join([parts[-1], parts[0]])))
    forms |= {location_form(f) for f in forms} - {""}
    return sorted(forms)


# Letters NFKD does not decompose, spelled as file names and URLs spell them.
_FOLD_SPECIAL = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "đ": "d", "ð": "d",
                               "ł": "l", "þ": "th", "ı": "i", "ŋ": "n"})
_LETTERS = re.compile(r"[^\W\d_]+")


def fold_word(word: str) -> str:
    """Text as a file name spells it: case-folded, accents dropped ("Ärrä" -> "arra")."""
    if word.isascii():
        return word.lower()
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", word).casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return unicodedata.normalize("NFKC", text.translate(_FOLD_SPECIAL))


def location_form(name: str) -> str:
    """A name's words folded (`fold_word`) and joined by single spaces: how a name is
    compared in a location ("Meikäläinen-Virtanen, Anna" -> "meikalainen virtanen anna")."""
    return " ".join(_LETTERS.findall(fold_word(name)))


def find(text: str, max_words: int = 3) -> Iterator[tuple[int, int, str]]:
    """(start, end, canonical) of every sequence of 2..max_words words (any case)."""
    words = [(m.start(), m.end()) for m in _WORD_RE.finditer(text)]
    for i in range(len(words)):
        for k in range(2, max_words + 1):
            if i + k > len(words):
                break
            # words of one name are separated by spaces or a comma only
            gap_ok = all(
                text[words[j][1] : words[j + 1][0]].strip(" ,\t") == "" for j in range(i, i + k - 1)
            )
            if not gap_ok:
                break
            s, e = words[i][0], words[i + k - 1][1]
            yield s, e, canonical(text[s:e])


# Two or more words separated by spaces and commas only (a lone word is no name).
# A run starts at a word start: the lookbehind only spares the regex from retrying
# inside every word (from there it would fail where the word's start failed).
_RUN_RE = re.compile(rf"(?<![^\W\d_]){_WORD}(?:[ ,\t]+{_WORD})+")


def canonical_word(word: str) -> str:
    """One word as `run_values` writes it in a value (case-folded, NFKC)."""
    if word.isascii():
        return word.casefold()
    return " ".join(unicodedata.normalize("NFKC", word).split()).casefold()


def candidate_values(text: str, max_words: int = 3) -> set[str]:
    """The canonical values `find` yields, as a set, without re-normalising every
    sequence: words are canonicalised once and sequences joined from them (the
    same strings: words of one name are separated by spaces and commas only).
    An ASCII run is case-folded whole (for ASCII, casefold is lower-casing and
    changes no word boundary)."""
    out: set[str] = set()
    for run in _RUN_RE.findall(text):
        out.update(run_values(run, max_words))
    return out


def candidate_runs(
    text: str, pos: int = 0, endpos: int | None = None, max_words: int = 3
) -> Iterator[tuple[int, list[str]]]:
    """(start, values) of each run of words in ``text[pos:endpos]``: `candidate_values`
    is the union of the values. A run holds letters, the joiners of a word and spaces,
    commas and tabs only: a text cut after any other character gives the same runs."""
    end = len(text) if endpos is None else endpos
    for m in _RUN_RE.finditer(text, pos, end):
        yield m.start(), run_values(m.group(), max_words)


def run_values(run: str, max_words: int = 3) -> list[str]:
    """The canonical 2..max_words word sequences of one run of words."""
    if run.isascii():
        words = _WORD_RE.findall(run.lower())
    else:
        words = [canonical_word(w) for w in _WORD_RE.findall(run)]
    out: list[str] = []
    for k in range(2, min(max_words, len(words)) + 1):
        # the k-word sequences: zip of the list shifted 0..k-1 (stops at the shortest)
        out.extend(map(" ".join, zip(*(words[i:] for i in range(k)), strict=False)))
    return out
