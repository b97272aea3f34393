"""Helpers shared by the detectors: token boundaries and code-point arrays."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from stdnum.exceptions import ValidationError

# An identifier is a token of its own. It must not continue a longer token:
# no letter or digit right before or after it, and no joiner (-, +, /, _)
# followed by one, so "INV-131052-308T" and "131052-308T-7" are not identities.
BOUNDARY_BEFORE = r"(?<![0-9A-Za-z])(?<![0-9A-Za-z][-+/_])"
BOUNDARY_AFTER = r"(?![0-9A-Za-z])(?![-+/_][0-9A-Za-z])"


def code_points(text: str) -> np.ndarray:
    """The text as an integer array of code points (uint8 when it fits, else uint32)."""
    try:
        return np.frombuffer(text.encode("latin-1"), dtype=np.uint8)
    except UnicodeEncodeError:
        return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


def ascii_table(chars: str) -> np.ndarray:
    """A 256-entry membership table (code points >= 256 are never members)."""
    table = np.zeros(256, dtype=bool)
    for ch in chars:
        table[ord(ch)] = True
    return table


def member(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`table[values]` for code points of any size (values >= 256 are False)."""
    return np.take(table, np.minimum(values, 255).astype(np.intp)) & (values < 256)


def rows_at(flat: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """The `width` values of `flat` from each of `starts`, as rows of a new (n, width)
    array; past the end of `flat`, its last value. Rows come from a strided view of
    `flat`, without an (n, width) array of indices (5x faster for e-mail addresses)."""
    n = len(flat)
    if not n or not len(starts):
        return np.zeros((len(starts), width), dtype=flat.dtype)
    if n < width:  # no full row: read as if the last value went on
        flat = np.concatenate((flat, np.full(width - n, flat[-1], dtype=flat.dtype)))
        n = width
    # The window view covers rows that start at most n - width; later ones are few.
    rows = np.lib.stride_tricks.sliding_window_view(flat, width)[
        np.minimum(starts, n - width)]
    late = np.flatnonzero(starts > n - width)
    if len(late):
        rows[late] = flat[np.minimum(starts[late, None] + np.arange(width), n - 1)]
    return rows


ALNUM = ascii_table("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
JOINERS = ascii_table("-+/_")


PAD_BEFORE = 2
PAD_AFTER = 24


class DigitRuns:
    """Maximal runs of ASCII digits in a code-point array, found with numpy.

    Every numeric detector starts from these (a HETU is a run of exactly six
    digits, a CPR one of six or ten, ...), so they are computed once per chunk.
    Indices are into the padded array `cp` (PAD_BEFORE NULs before the text,
    PAD_AFTER after), so gathers a few positions around a run never fall out
    of range, and the padding reads as a token boundary.
    """

    def __init__(self, codes: np.ndarray) -> None:
        cp = np.concatenate(
            (np.zeros(PAD_BEFORE, codes.dtype), codes, np.zeros(PAD_AFTER, codes.dtype))
        )
        self.n = len(codes)
        # Code points >= 256 only ever need to read as "not ASCII": clip them.
        self.cp = cp if cp.dtype == np.uint8 else np.minimum(cp, 255).astype(np.uint8)

    # The digit mask and the runs are computed on first use: a HETU-only scan needs
    # only the runs of exactly six digits (`six_ends`), which are cheaper to find, and
    # the C phone readings find the runs they need themselves.

    @functools.cached_property
    def dig(self) -> np.ndarray:
        return (self.cp - 48) < 10

    @functools.cached_property
    def _runs(self) -> tuple[np.ndarray, np.ndarray]:
        # A boolean "changes here" array: flatnonzero over bool is ~6x faster than over
        # int8. dig is False in the padding, so edges alternate: before a run, last of one.
        edges = np.flatnonzero(self.dig[1:] != self.dig[:-1])
        return edges[0::2] + 1, edges[1::2] + 1

    @functools.cached_property
    def start(self) -> np.ndarray:
        return self._runs[0]

    @functools.cached_property
    def end(self) -> np.ndarray:
        return self._runs[1]

    @functools.cached_property
    def length(self) -> np.ndarray:
        return self.end - self.start

    @functools.cached_property
    def six_ends(self) -> np.ndarray:
        """Padded index of the character after every run of exactly six digits."""
        if "start" in self.__dict__:
            return self.end[self.length == 6]
        d, n = self.dig, self.n
        lo = PAD_BEFORE
        # Three full-size operations give the few positions where a run starts
        # and a digit is followed by a non-digit 5 places on; gathers check the rest.
        m = d[lo : lo + n] & d[lo + 5 : lo + 5 + n]
        m &= ~d[lo + 6 : lo + 6 + n]
        m &= ~d[lo - 1 : lo - 1 + n]
        p = np.flatnonzero(m) + lo
        inner = d[p + 1] & d[p + 2] & d[p + 3] & d[p + 4]
        return p[inner] + 6

    def at(self, idx: np.ndarray) -> np.ndarray:
        return np.take(self.cp, idx)

    def ok_before(self, p: np.ndarray) -> np.ndarray:
        """A token may start at padded index p (see BOUNDARY_BEFORE)."""
        c1 = self.at(p - 1)
        return ~ALNUM[c1] & ~(JOINERS[c1] & ALNUM[self.at(p - 2)])

    def ok_after(self, e: np.ndarray) -> np.ndarray:
        """A token may end before padded index e (see BOUNDARY_AFTER)."""
        c0 = self.at(e)
        return ~ALNUM[c0] & ~(JOINERS[c0] & ALNUM[self.at(e + 1)])

    def followed_by_run(self, i: np.ndarray, sep: np.ndarray, length: int | tuple[int, ...]):
        """For runs i: is the next run `length` long and separated by one char of `sep`?

        Returns (mask, end of the next run) for the runs i.
        """
        nxt = np.minimum(i + 1, len(self.start) - 1)
        lengths = (length,) if isinstance(length, int) else length
        ok = (i + 1 < len(self.start)) & (self.start[nxt] == self.end[i] + 1)
        ok &= sep[self.at(self.end[i])] & np.isin(self.length[nxt], lengths)
        return ok, self.end[nxt]

    def text_slice(self, text: str, p: int, e: int) -> str:
        return text[p - PAD_BEFORE : e - PAD_BEFORE]


def validity_check(check: Callable[..., str]) -> Callable[..., bool]:
    """The stdnum-style `is_valid` of a detector: True when `check` (its
    `validate` or `canonical`) accepts the value, False on a ValidationError.
    Extra arguments (a phone region, a customer-id pattern) are passed on."""

    def is_valid(value: str, *args: object) -> bool:
        try:
            check(value, *args)
        except ValidationError:
            return False
        return True

    return is_valid
