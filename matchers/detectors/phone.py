"""Telephone numbers, validated with phonenumbers; canonical form E.164.

National numbers are read in the default region (configuration, "FI" by
default); international ones (``+358 ...``, ``00358 ...``) in their own.
Spaced, dashed and ``(0)`` forms are accepted.

`find` starts from digit runs found with numpy: a candidate starts at a run
that begins with the national prefix (``0`` in FI) or follows ``+``/``(``,
and only those positions go through a regular expression and phonenumbers.
Parses are cached, because dumps repeat the same numbers.

Where a number may start (`start_ok`, one rule for `find` and `candidates`):
after anything but a letter or digit, so after every delimiter of a dump, a
chat or markup (``,`` ``;`` ``:`` ``.`` ``(`` ``)`` brackets, quotes, ``<`` ``>``
``|`` ``/`` ``\\`` ``=``, tab, newline) and after ``tel:``, ``tel:+``,
``puh.``, ``p.``. Not when glued to a longer token: right after a letter or
digit ("abc0401234567" is a product code, not a number; hetu's rule too), after
``-`` ``/`` ``_`` ``+`` that follow a letter or digit ("INV-0401234567",
"x/0401234567"), or after a ``.`` that follows a digit (a decimal or a date:
"1.0401234567"). Digit runs are maximal, so a longer number never yields a
phone from its middle.

Two kinds of number are read apart, and the engine reports one only when its
person is confirmed beside it (see the section at the end): a mobile number kept
as a number, without its leading 0 ("401234567": `without_trunk` puts it back),
and a number glued to letters in a packed row ("Åberg0401234567elina@...":
`glued_to_letters`), which the rule above takes for part of a longer code.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from stdnum.exceptions import InvalidFormat, ValidationError

from .. import native
from ..lazy import lazy_module
from ..normalize import normalize
from ._common import PAD_BEFORE, DigitRuns, ascii_table, code_points, member

phonenumbers = lazy_module("phonenumbers")  # loaded on first use: hetu-only scans never

ID_TYPE = "phone"
DEFAULT_REGION = "FI"

_CANDIDATE = re.compile(
    r"(?:\+|00|\(0?)?\d(?:\d|[ -](?=[\d(])|\(0\)|\)[ -]?(?=\d)|-(?=\d)){5,22}"
)


def _glued_table() -> np.ndarray:
    """[c1, c2]: is a number that starts after c2 c1 glued to a longer token?"""
    alnum = ascii_table("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    digit, joiner = ascii_table("0123456789"), ascii_table("-/_+")
    dot = np.arange(256) == ord(".")
    return alnum[:, None] | (joiner[:, None] & alnum[None, :]) | (dot[:, None] & digit[None, :])


_GLUED = _glued_table()


def start_ok(runs: DigitRuns, at: np.ndarray) -> np.ndarray:
    """May a number start at padded index `at` (its first digit, or its "+"/"(")?
    See the module doc: not glued to a longer token, not inside a decimal."""
    return ~_GLUED[runs.at(at - 1), runs.at(at - 2)]


def compact(number: str) -> str:
    return "".join(normalize(number).text.split())


@functools.lru_cache(maxsize=65536)
def _parse(candidate: str, region: str) -> str | None:
    digits = sum(ch.isdigit() for ch in candidate)
    if not 6 <= digits <= 15:
        return None
    try:
        num = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def validate(number: str, region: str = DEFAULT_REGION) -> str:
    """E.164 form, or a stdnum `InvalidFormat` (which never holds the value). (A number
    with the region's country code but no "+", "358401234567", phonenumbers reads as
    international itself.)"""
    result = _parse(compact(number), region)
    if result is None:
        raise InvalidFormat()
    return result


def canonical(number: str, region: str = DEFAULT_REGION) -> str:
    return validate(number, region)


def is_valid(number: str, region: str = DEFAULT_REGION) -> bool:
    try:
        validate(number, region)
    except ValidationError:
        return False
    return True


@functools.cache
def _national_prefix(region: str) -> str | None:
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    return meta.national_prefix if meta is not None else None


def find(
    text: str, region: str = DEFAULT_REGION, runs: DigitRuns | None = None
) -> Iterator[tuple[int, int, str]]:
    """(start, end, E.164) of every valid phone number in normalised `text`."""
    r = runs if runs is not None else DigitRuns(code_points(text))
    if not len(r.start):
        return
    p = r.start
    before = r.at(p - 1)
    prefix = _national_prefix(region)
    plus = before == ord("+")
    national = (r.at(p) == ord(prefix[0])) if prefix else np.ones(len(p), bool)
    # "00" international prefixes start with 0 too; both are taken here.
    usual = plus | (before == ord("(")) | national
    bare = ~plus & _bare_runs(r, _region_prefixes(region)[0])
    starts_ok = (usual | bare) & start_ok(r, p - plus)
    cand = p[starts_ok] - PAD_BEFORE
    cand_before = before[starts_ok]
    last_end = -1
    for pos, b, as_usual, as_bare in zip(cand.tolist(), cand_before.tolist(),
                                         usual[starts_ok].tolist(), bare[starts_ok].tolist(),
                                         strict=True):
        # "(09) 123 4567" starts at its "(", "(0401234567)" at its first digit
        firsts = (pos - 1, pos) if b == ord("(") else (pos - 1,) if b == ord("+") else (pos,)
        readings = [(start, False) for start in firsts] if as_usual else []
        if as_bare:  # "358401234567": the "+" left out
            readings.append((pos, True))
        for start, implied_plus in readings:
            hit = _valid_at(text, start, region, implied_plus) if start >= last_end else None
            if hit is not None:
                last_end = start + hit[0]
                yield start, last_end, hit[1]
                break


_NUMBER_START = ascii_table("0123456789+(")


def after_codes(codes: np.ndarray, text: str, code_ends: np.ndarray,
                region: str = DEFAULT_REGION) -> list[tuple[int, int, str]]:
    """(start, end, E.164) of the numbers glued to an identity code's end.

    A number glued to a letter is taken for part of a longer code (the module doc), but
    in a packed row the code column runs into the phone column: "131052-308T0401234567".
    A code's check character says where it ends, so a number right after it is read.
    `codes`: the code points of `text`; `code_ends`: the valid codes' ends in it
    (`hetu.find_with_run_on`: a run-on code's number is read too, for what follows a
    fixed-width code field is a numeric field as often as not)."""
    ends = code_ends[code_ends < len(text)]
    ends = ends[member(_NUMBER_START, codes[ends])]  # few: glued ones
    found: list[tuple[int, int, str]] = []
    if not len(ends):
        return found
    cc = _region_prefixes(region)[0].decode()
    for c in ends.tolist():
        hit = _valid_at(text, c, region)
        if hit is None and cc and text.startswith(cc, c):
            hit = _valid_at(text, c, region, implied_plus=True)  # "358401234567"
        if hit is not None:
            found.append((c, c + hit[0], hit[1]))
    return found


def _bare_runs(r: DigitRuns, cc: bytes) -> np.ndarray:
    """Per digit run of `r`: does it start with the country code `cc` (ASCII digits)?"""
    if not cc:
        return np.zeros(len(r.start), bool)
    return _starts_with(r, r.start, cc)


def _starts_with(r: DigitRuns, s: np.ndarray, digits: bytes) -> np.ndarray:
    """Per padded position in `s`: do the ASCII `digits` stand there (all of them in its
    run, since what ends a run is no digit)?"""
    found = np.ones(len(s), bool)
    for j, digit in enumerate(digits):
        found &= r.at(s + j) == digit
    return found


def _valid_at(text: str, start: int, region: str,
              implied_plus: bool = False) -> tuple[int, str] | None:
    """(length, E.164) of the number that starts at `start` and ends a token, or None.
    `implied_plus`: read it as if a "+" stood before it."""
    m = _CANDIDATE.match(text, start)
    if not m:
        return None
    hit = _longest_valid(m.group(), region, implied_plus)
    if hit is None:
        return None
    end = start + hit[0]
    if end < len(text) and (text[end].isalnum() or text[end] in "_"):
        return None
    return hit


def _longest_valid(candidate: str, region: str,
                   implied_plus: bool = False) -> tuple[int, str] | None:
    """The longest prefix of `candidate`, cut at a separator, that is a valid number.

    Two numbers in a row ("040 123 4567 050 765 4321") read as one run of digit
    groups; cutting at group boundaries from the right finds the first number.
    """
    ends = [len(candidate)] + [
        i
        for i in range(len(candidate) - 1, 0, -1)
        if candidate[i] in " -" and candidate[i - 1].isdigit()
    ]
    for e in ends[:5]:
        piece = candidate[:e].rstrip(" -(")
        if piece.count("(") != piece.count(")"):
            continue
        result = _parse("+" + piece if implied_plus else piece, region)
        if result is not None:
            return len(piece), result
    return None


# -- scan-time candidates (no phonenumbers) ----------------------------------------------
#
# Parsing every candidate with phonenumbers costs ~50 µs; a dump has thousands of
# numbers per MB. At scan time the question is only "is this an enrolled number?",
# and enrolled numbers are E.164 (validated by phonenumbers at enrolment). So the
# scan derives, with numpy, the E.164 string every plausible reading of a digit
# chain would have (national "0..." -> "+<cc>...", "+..." and "00..." as
# international, "(0)" trunk dropped), for every cut at a group boundary, and the
# engine keys them all and keeps the longest reading found in the index. A chain that
# starts with the country code is also read as international without its "+"
# ("358401234567": a spreadsheet's or an SMS log's way).

MAX_GROUPS = 6  # "+358 (0)40 123 45 67" is six groups
_MAX_DIGITS = 17  # raw digits of a candidate (with "00" / trunk "0")
_E164_MAX = 15
_E164_MIN = 7
_SEP = ascii_table(" -")
_AFTER_BAD = ascii_table("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")


@functools.cache
def _region_prefixes(region: str) -> tuple[bytes, bytes, bytes]:
    """(country code, national prefix, international call prefix) as ASCII digits."""
    cc = phonenumbers.country_code_for_region(region)
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    national = (meta.national_prefix or "") if meta is not None else ""
    intl = "00"
    if meta is not None:
        for p in (meta.preferred_international_prefix, meta.international_prefix):
            if p and p.isdigit():
                intl = p
                break
    return str(cc).encode() if cc else b"", national.encode(), intl.encode()


@dataclass(frozen=True)
class Candidates:
    """Readings of digit chains as E.164, many per chain start (`group`).

    `values` rows hold the E.164 strings (ASCII, `lengths` bytes each); starts
    and ends are offsets in the scanned text; `groups` tells which readings
    compete (the engine keeps the longest enrolled one per group): the padded
    position of the chain's first digit; `ngroups` is the number of digit groups
    a reading spans.
    """

    starts: np.ndarray
    ends: np.ndarray
    values: np.ndarray
    lengths: np.ndarray
    groups: np.ndarray
    ngroups: np.ndarray


def _empty_candidates() -> Candidates:
    z = np.zeros(0, np.int64)
    return Candidates(z, z, np.zeros((0, _E164_MAX + 1), np.uint8), z, z, z)


def candidates(runs: DigitRuns, region: str = DEFAULT_REGION) -> Candidates:
    """E.164 readings of every digit chain that can start a phone number (vectorised).

    Only the few runs that can start a number are looked at, with the
    MAX_GROUPS runs after each: all arrays are (starts, groups) shaped.
    """
    cc, national, intl = _region_prefixes(region)
    if not cc:
        return _empty_candidates()
    lib = native.lib
    if lib is not None:  # finds the runs it needs itself
        return _candidates_native(lib, runs, cc, national, intl)
    r = runs
    nr = len(r.start)
    if nr == 0:
        return _empty_candidates()
    first = r.at(r.start)
    before = r.at(r.start - 1)
    maybe = (before == ord("+")) | (before == ord("("))
    maybe |= (first == national[0]) if national else True
    # A run that starts with the country code is also read with the "+" left out
    # ("358401234567"): a row of its own, after the usual reading of the same run.
    bare = (before != ord("+")) & _bare_runs(r, cc)
    s = np.concatenate((np.flatnonzero(maybe), np.flatnonzero(bare)))
    as_bare = np.concatenate((np.zeros(int(maybe.sum()), bool), np.ones(int(bare.sum()), bool)))
    order = np.lexsort((as_bare, s))
    s, as_bare = s[order], as_bare[order]
    bs = before[s]
    plus, paren = bs == ord("+"), bs == ord("(")
    ok = start_ok(r, r.start[s] - plus)  # "(" is a delimiter itself
    s, plus, paren, as_bare = s[ok], plus[ok], paren[ok], as_bare[ok]
    if not len(s):
        return _empty_candidates()

    # Groups: the run at each start and the runs after it (one column more, to
    # know whether the last group is followed by another).
    g = MAX_GROUPS + 1
    jj = s[:, None] + np.arange(g)
    exists = jj < nr
    jc = np.minimum(jj, nr - 1)
    st, en, ln = r.start[jc], r.end[jc], r.length[jc]
    g_open = r.at(st - 1) == ord("(")
    g0, g1 = r.at(en), r.at(en + 1)
    # A "(0)" between country code and number: its digit is dropped.
    trunk = (ln == 1) & (r.at(st) == ord("0")) & g_open & (g0 == ord(")"))
    # Links from group i to group i + 1 (what _CANDIDATE allows inside a number).
    gap = st[:, 1:] - en[:, :-1]
    a0, a1 = g0[:, :-1], g1[:, :-1]
    closes = g_open[:, :-1] & (a0 == ord(")"))
    link = (gap == 1) & (_SEP[a0] | closes)
    link |= (gap == 2) & closes & _SEP[a1]
    link |= trunk[:, 1:] & ((gap == 1) | ((gap == 2) & (a0 == ord(" "))))
    link &= exists[:, 1:]
    reach = np.ones((len(s), g), dtype=bool)
    reach[:, 1:] = np.logical_and.accumulate(link, axis=1)
    k = MAX_GROUPS
    reach, trunk, link = reach[:, :k], trunk[:, :k], link[:, :k]
    eff = np.where(trunk | ~reach, 0, ln[:, :k])
    ndig = np.cumsum(eff, axis=1)  # digits up to and including each group
    valid = reach & ~trunk & (ndig >= 6) & (ndig <= _MAX_DIGITS)
    # The end of a chain must be a token end; inside a chain a separator follows.
    valid &= link | ~_AFTER_BAD[g0[:, :k]]
    if not valid.any():
        return _empty_candidates()

    # Digit rows: the first _MAX_DIGITS digits of each start's chain, trunks left out.
    capped = np.minimum(ndig, _MAX_DIGITS)
    eff_c = np.diff(capped, axis=1, prepend=0).ravel()
    total = int(eff_c.sum())
    seg_first = np.cumsum(eff_c) - eff_c
    within = np.arange(total) - np.repeat(seg_first, eff_c)
    rows = np.repeat(np.arange(len(s) * k) // k, eff_c)
    cols = np.repeat((capped.ravel() - eff_c), eff_c) + within
    digits = np.zeros((len(s), _MAX_DIGITS), dtype=np.uint8)
    digits[rows, cols] = r.cp[np.repeat(st[:, :k].ravel(), eff_c) + within]

    # How each start is read: international after "+" or the call prefix, else national.
    li = len(intl)
    starts_intl = np.all(digits[:, :li] == np.frombuffer(intl, np.uint8), axis=1)
    has_intl = ~plus & ~as_bare & starts_intl
    nat = ~plus & ~has_intl & ~as_bare
    skip = np.where(has_intl, li, np.where(nat, len(national), 0))
    head_len = np.where(nat, 1 + len(cc), 1)
    valid &= ~(as_bare & starts_intl)[:, None]  # (a call prefix is read as such)

    ci, ki = np.nonzero(valid)
    body = ndig[ci, ki] - skip[ci]
    total_len = head_len[ci] + body
    keep = (total_len - 1 >= _E164_MIN) & (total_len - 1 <= _E164_MAX) & (body > 0)
    ci, ki, total_len = ci[keep], ki[keep], total_len[keep]
    if not len(ci):
        return _empty_candidates()
    # One gather builds every value: the head ("+" and, for national readings,
    # the country code) from the end of `table`, then the digits after `skip`.
    # Bytes past a value's length are left as they are (the digest ignores them).
    width = _E164_MAX + 1
    head = np.frombuffer(b"+" + cc, np.uint8)
    table = np.concatenate((digits.ravel(), head, np.zeros(1, np.uint8)))
    col = np.arange(width)[None, :]
    hl = head_len[ci][:, None]
    src = (ci * _MAX_DIGITS + skip[ci])[:, None] + np.minimum(col - hl, _MAX_DIGITS - 1)
    src = np.where(col < hl, digits.size + np.minimum(col, len(head)), src)
    values = table[np.clip(src, 0, len(table) - 1)]
    # A reading starts at its "+", at the "(" of "(09) 123 4567", else at its first
    # digit ("(0401234567)" is a number in parentheses).
    opened = paren & closes[:, 0]
    starts = r.start[s[ci]] - (plus[ci] | (opened[ci] & (ki > 0))) - PAD_BEFORE
    ends = en[ci, ki] - PAD_BEFORE
    return Candidates(starts, ends, values, total_len, r.start[s[ci]], ki + 1)


_GLUED_BYTES = _GLUED.astype(np.uint8).tobytes()
_SEP_BYTES = _SEP.astype(np.uint8).tobytes()
_AFTER_BAD_BYTES = _AFTER_BAD.astype(np.uint8).tobytes()


def _candidates_native(lib, r: DigitRuns, cc: bytes, national: bytes,  # noqa: ANN001
                       intl: bytes) -> Candidates:
    """`candidates` in C (matchers/_native_phone.c): the same readings, in the same order."""
    starts, ends, values, lengths, groups, ngroups = lib.phone_candidates(
        r.cp, cc, national, intl, _GLUED_BYTES, _SEP_BYTES, _AFTER_BAD_BYTES, MAX_GROUPS,
        _MAX_DIGITS, _E164_MIN, _E164_MAX, PAD_BEFORE)
    if not starts:
        return _empty_candidates()
    return Candidates(
        np.frombuffer(starts, dtype=np.int64), np.frombuffer(ends, dtype=np.int64),
        np.frombuffer(values, dtype=np.uint8).reshape(-1, _E164_MAX + 1),
        np.frombuffer(lengths, dtype=np.int64), np.frombuffer(groups, dtype=np.int64),
        np.frombuffer(ngroups, dtype=np.int64))


def reported(cands: Candidates, hit: np.ndarray) -> np.ndarray:
    """`select` as a mask over `hit` (repeats allowed: a number shared by several
    people): True where hit[i] is a reading to report."""
    lib = native.lib
    if lib is not None and len(hit):
        return np.frombuffer(lib.phone_keep(
            *(np.ascontiguousarray(a, dtype=np.int64) for a in (
                cands.groups, cands.ngroups, cands.starts, cands.ends, hit))), dtype=bool)
    return np.isin(hit, select(cands, hit))


def select(cands: Candidates, hit: np.ndarray) -> np.ndarray:
    """Indices of the readings to report among the enrolled ones (`hit`, indices):
    the longest per chain start, and no reading that starts inside an earlier one."""
    if not len(hit):
        return hit
    hit = np.unique(hit)
    order = np.lexsort((-cands.ngroups[hit], cands.groups[hit]))
    hit = hit[order]
    first = np.ones(len(hit), bool)
    first[1:] = cands.groups[hit][1:] != cands.groups[hit][:-1]
    hit = hit[first]
    hit = hit[np.argsort(cands.starts[hit], kind="stable")]
    starts, ends = cands.starts[hit], cands.ends[hit]
    if len(hit) < 2 or (starts[1:] >= np.maximum.accumulate(ends[:-1])).all():
        return hit  # none starts inside an earlier one (a dump's phones: one per field)
    out, last_end = [], -1
    # plain ints: indexing the arrays one element at a time costs more than the loop
    for i, start, end in zip(hit.tolist(), starts.tolist(), ends.tolist(), strict=True):
        if start >= last_end:
            out.append(i)
            last_end = end
    return np.asarray(out, dtype=np.int64)


# -- numbers of a field of their own that `candidates` does not read ----------------------
#
# Two kinds of digit run, each reported only when its person is confirmed beside it (the
# engine): alone, such digits are an order's or a customer's number as often as a phone's.
#
# - A mobile number kept as a number: a spreadsheet's number cell, a SQLite INTEGER
#   column and a JSON number keep it without its leading 0 ("401234567"). A whole
#   field (a digit run with nothing glued to it and no digit group beside it) with a
#   length and first two digits that the region's mobile numbers have is read with the
#   national prefix put back. Landlines are not read so: without their 0 they are digit
#   runs that begin with almost anything.
# - A number in a packed row: a database page's strings (InnoDB and SQL Server keep a
#   row's text columns side by side) and a fixed-width export whose fields are full run
#   the name into the number and the number into the e-mail address
#   ("Åberg0401234567elina.aberg@..."). A digit run glued to a letter (right after one,
#   or at a token's start with one right after it) that starts with the national prefix
#   or the country code and has the length of a number of the region with it is read.
#   (`candidates` takes it for part of a longer code.) One run only: "Åberg040 123 4567"
#   is not read.

# The fewest digits of a packed number without its prefix: a person's number has 7 or
# more (a Finnish landline 8, a mobile 9). Shorter runs glued to letters are an identity
# code's date part before its sign ("020512D512X": 6 digits), ids and versions.
_PACKED_MIN_NATIONAL = 7
_DECIMAL_POINT = ascii_table(".")
_BEFORE_NUMBER = ascii_table("+()")


@dataclass(frozen=True)
class Readings:
    """E.164 readings of text spans, one each: `values` rows (ASCII, `lengths` bytes)."""

    starts: np.ndarray
    ends: np.ndarray
    values: np.ndarray
    lengths: np.ndarray


_NO_READINGS = Readings(np.zeros(0, np.int64), np.zeros(0, np.int64),
                        np.zeros((0, _E164_MAX + 1), np.uint8), np.zeros(0, np.int64))


@dataclass(frozen=True)
class _RunShape:
    """The digit runs of one kind: boolean tables over the digit count (16) and the
    first two digits (100), and the mask of first digits (bit d: digit d)."""

    lengths: np.ndarray
    prefixes: np.ndarray
    firsts: int

    @staticmethod
    def of(lengths: np.ndarray, prefixes: np.ndarray) -> _RunShape | None:
        firsts = sum(1 << d for d in range(10) if prefixes[10 * d:10 * d + 10].any())
        return _RunShape(lengths, prefixes, firsts) if lengths.any() and firsts else None


@functools.cache
def _mobile_shape(region: str) -> _RunShape | None:
    """A mobile number without its trunk prefix, from phonenumbers' metadata; None when
    the region has no trunk prefix to leave out (Norway, Denmark)."""
    cc, national, _ = _region_prefixes(region)
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    desc = meta.mobile if meta is not None else None
    if not cc or not national or desc is None or not desc.national_number_pattern:
        return None
    pattern = re.compile(desc.national_number_pattern)
    lengths = np.zeros(_E164_MAX + 1, bool)
    prefixes = np.zeros(100, bool)
    for n in desc.possible_length:
        if 2 <= n <= _E164_MAX - len(cc):
            lengths[n] = True
            for p in range(10, 100):  # a prefix whose numbers match with any digit repeated
                prefixes[p] |= any(pattern.fullmatch(f"{p}{d * (n - 2)}") for d in "0123456789")
    return _RunShape.of(lengths, prefixes)


@functools.cache
def _packed_shape(region: str) -> _RunShape | None:
    """A number of the region with its national prefix ("0401234567") or its country
    code ("358401234567"), of any type."""
    cc, national, _ = _region_prefixes(region)
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if not cc or meta is None:
        return None
    lengths = np.zeros(_E164_MAX + 1, bool)
    prefixes = np.zeros(100, bool)
    for head in (national, cc):
        if not head:
            continue
        for n in meta.general_desc.possible_length:
            if _PACKED_MIN_NATIONAL <= n and len(head) + n <= _E164_MAX \
                    and n + len(cc) <= _E164_MAX:
                lengths[len(head) + n] = True
        first = int(head[:1])
        lo, hi = ((int(head[:2]), int(head[:2]) + 1) if len(head) > 1
                  else (10 * first + 1, 10 * first + 10))  # a national number's 1-9
        prefixes[lo:hi] = True
    return _RunShape.of(lengths, prefixes)


@functools.cache
def _c_tables(region: str, packed: bool) -> tuple[int, bytes, bytes]:
    """The region's `_RunShape` as `phone_fields` (matchers/_native_phone.c) takes it."""
    shape = (_packed_shape if packed else _mobile_shape)(region)
    assert shape is not None
    return (shape.firsts, shape.lengths.astype(np.uint8).tobytes(),
            shape.prefixes.astype(np.uint8).tobytes())


def without_trunk(runs: DigitRuns, region: str = DEFAULT_REGION) -> Readings:
    """The whole-field digit runs that read as the region's mobile numbers with their
    national prefix put back ("401234567" -> "+358401234567"); see above."""
    return _field_readings(runs, region, packed=False)


def glued_to_letters(runs: DigitRuns, region: str = DEFAULT_REGION) -> Readings:
    """The region's numbers glued to a letter, a packed row's ("Åberg0401234567",
    "0401234567elina" -> "+358401234567"); see above."""
    return _field_readings(runs, region, packed=True)


def _field_readings(r: DigitRuns, region: str, packed: bool) -> Readings:
    shape = (_packed_shape if packed else _mobile_shape)(region)
    width = _E164_MAX + 1
    if shape is None:
        return _NO_READINGS
    cc, national, _ = _region_prefixes(region)
    lib = native.lib
    if lib is not None:
        s, e = (np.frombuffer(b, np.int64) for b in lib.phone_fields(
            r.cp, *_c_tables(region, packed), cc, _GLUED_BYTES, _SEP_BYTES,
            _AFTER_BAD_BYTES, packed))
    else:
        s, e = _fields(r, shape, cc, packed)
    if not len(s):  # (nearly every chunk)
        return _NO_READINGS
    # "+", the country code unless the run starts with it, then the digits after the
    # national prefix (none left out of a mobile number without its 0)
    with_cc = _starts_with(r, s, cc) if packed else np.zeros(len(s), bool)
    skip = np.where(with_cc, 0, len(national) if packed else 0)
    head_len = np.where(with_cc, 1, 1 + len(cc))
    n = e - s - skip
    total = head_len + n
    keep = (total - 1 >= _E164_MIN) & (total - 1 <= _E164_MAX)
    s, e, skip, head_len, n, total = s[keep], e[keep], skip[keep], head_len[keep], n[keep], \
        total[keep]
    col = np.arange(width)[None, :]
    head = np.frombuffer(b"+" + cc, np.uint8)
    at = s[:, None] + skip[:, None] + col - head_len[:, None]
    digits = r.cp[np.clip(at, 0, len(r.cp) - 1)]
    values = np.where(col < head_len[:, None], head[np.minimum(col, len(head) - 1)], digits)
    values = np.where(col < total[:, None], values, 0).astype(np.uint8)
    return Readings(s - PAD_BEFORE, e - PAD_BEFORE, values, total)


def _fields(r: DigitRuns, shape: _RunShape, cc: bytes,
            packed: bool) -> tuple[np.ndarray, np.ndarray]:
    """`phone_fields` (matchers/_native_phone.c) with numpy: padded starts and ends."""
    if not len(r.start):
        return r.start, r.end
    cand = shape.lengths[np.minimum(r.length, _E164_MAX)]
    s, e = r.start[cand], r.end[cand]
    first_two = (r.at(s).astype(np.int64) - 48) * 10 + (r.at(s + 1).astype(np.int64) - 48)
    b1, b2, a0, a1 = r.at(s - 1), r.at(s - 2), r.at(e), r.at(e + 1)
    b2_digit, a1_digit = (b2 - 48) < 10, (a1 - 48) < 10
    ok = shape.prefixes[first_two] & ~(_SEP[a0] & a1_digit)  # a chain's first group
    # a decimal, but for "401234567.0": an integer written as a float (pandas' CSV of a
    # column with gaps)
    float_zero = (a1 == ord("0")) & ((r.at(e + 2) - 48) >= 10)
    ok &= ~(_DECIMAL_POINT[a0] & a1_digit & ~float_zero)
    # not glued to a token, nor the next group of a chain ("040 1234567", "+358 40...")
    token_start = ~_GLUED[b1, b2] & ~_BEFORE_NUMBER[b1] & ~(_SEP[b1] & b2_digit)
    if packed:  # right after a letter, or at a token's start with a letter right after
        ok &= _LETTER[b1] | (token_start & _LETTER[a0])
    else:
        ok &= token_start & ~_AFTER_BAD[a0]
        ok &= ~_starts_with(r, s, cc)  # read with its country code (`candidates`)
    return s[ok], e[ok]


def _letter_table() -> np.ndarray:
    """Letters of the padded code points (Latin-1; a code point over 255 reads 255)."""
    c = np.arange(256)
    return (((c | 0x20) >= ord("a")) & ((c | 0x20) <= ord("z"))) | (
        (c >= 0xC0) & (c != 0xD7) & (c != 0xF7))


_LETTER = _letter_table()
