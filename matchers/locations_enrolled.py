"""Enrolled phones and names in locations, matched against the watchlist's own keys.

Phone numbers and names have no shape of their own that sets them apart in a
URL: numeric paste, post and file ids are digit runs of phone length, and any
two words of a path look like a name. So, unlike identity codes and e-mail
addresses (matchers.locations), a phone or a name in a location is replaced
only when it is an *enrolled* person's: every reading of the location is keyed
as the scan keys it (matchers.digest) and looked up in the watchlist index. An
arbitrary number stays as it is, and a numeric paste id stays fetchable.

Phones. A chain is a run of digit groups within one path segment, joined by
up to four of " ._()-" ("040-123 4567", "+358%2040%201234567" decoded,
"040_123_4567", "+358 (0)40 123 4567"; a "(0)" trunk is dropped); "/", letters
and anything else end a chain. Every group of a chain may start a number and
every later group (up to `phone.MAX_GROUPS`) end it; each such digit string is
read as E.164 in the configured region: after "+" (only at the chain's start)
as international, after the international call prefix ("00") as international,
with the national prefix ("0") as national, and without either as
international without its "+" ("wa.me/358401234567", or "?tel=+358..." whose
"+" a query reads as a space). Readings of 7..15 digits are keyed; at each
start the longest enrolled reading wins, and hits do not overlap. The token's
value is the E.164 form, so every spelling of one number gives one token.

Names. A run is two or more letter words joined by runs of " _-.+,'’" (after
percent-decoding: "%20" is a space): "Matti_Meikäläinen.txt",
"meikalainen-matti.pdf", "MATTI MEIKÄLÄINEN/notes.txt", "?n=Matti+Meikäläinen".
Every 2..MAX_NAME_WORDS consecutive words of a run are compared, in the order
written, case-insensitively and with accents folded (`name.location_form`, as
enrolled; a non-ASCII window also as written, for a watchlist enrolled before
folded forms were), so "first last" and "last first" both match (both are
enrolled), as do the full name with middle names. Words glued without a
joiner ("MattiMeikalainen") or to digits through a letter do not. The token's
value is the folded words sorted, so one person's name in either order gives
one token (with middle names, another).

Cost: readings and windows are cached per chain and per run (host names and
path words repeat in every URL of a site); `may_hold` answers from those
caches, so a clean URL costs a regular expression and a few dictionary
lookups. The name keys are gathered (a sort over every enrolled name form)
on the first name lookup.
"""

from __future__ import annotations

import functools
import re

import numpy as np

from .detectors import name as name_detector
from .detectors import phone as phone_detector
from .digest import digester, to_u64, u64_of
from .fragments import dedupe_sorted
from .index import WatchlistIndex
from .keys import Key

MAX_NAME_WORDS = 6
_CACHE = 16384
_ONE_BY_ONE = 16
_NO_HITS: tuple = ()

_CHAIN = re.compile(r"\+?[0-9](?:[0-9]|[ ._()\-]{1,4}(?=[0-9]))*")
_GROUP = re.compile(r"[0-9]+")
# A run starts at a word's start (the lookbehind spares retrying inside every word).
_NAME_RUN = re.compile(r"(?<![^\W\d_])[^\W\d_]+(?:[ _.+,'’\-]+[^\W\d_]+)+")
_WORD = re.compile(r"[^\W\d_]+")
_MIN_DIGITS = 6  # the fewest digits a number in a location can have (E.164 has 7+)

Hit = tuple[int, int, str, str]  # start, end, type, the value the token is made of


class EnrolledValues:
    """Finds the enrolled phones and names in (decoded, normalised) location text."""

    def __init__(self, key: Key, index: WatchlistIndex, region: str) -> None:
        self._digester = digester(key)
        phones = index.ids.get("phone")
        self._phone_keys = phones[0] if phones is not None and len(phones[0]) else None
        names = index.corroborating.get("name")
        self._name_source = names[1] if names is not None and len(names[1]) else None
        self._name_keys: np.ndarray | None = None
        self._region = region
        self._chain_hits = functools.lru_cache(maxsize=_CACHE)(self._phones_in_chain)
        self._run_hits = functools.lru_cache(maxsize=_CACHE)(self._names_in_run)
        self._segment_holds = functools.lru_cache(maxsize=_CACHE)(self._holds)

    def __repr__(self) -> str:  # never a key
        return "EnrolledValues()"

    @property
    def empty(self) -> bool:
        return self._phone_keys is None and self._name_source is None

    def may_hold(self, text: str) -> bool:
        """Does `text` hold an enrolled phone or name? Answered per path segment (a
        number or a name never spans a "/"), from a cache: a site's host and path
        words repeat in every URL."""
        for segment in text.split("/"):
            if segment.isalnum():  # no joiner: no name; a number only with enough digits
                if segment.isalpha() or self._phone_keys is None or not _enough_digits(segment):
                    continue
            if segment and self._segment_holds(segment):
                return True
        return False

    def _holds(self, segment: str) -> bool:
        if self._phone_keys is not None and _enough_digits(segment):
            if any(self._chain_hits(m.group()) for m in _CHAIN.finditer(segment)):
                return True
        if self._name_source is not None:
            return any(self._run_hits(m.group()) for m in _NAME_RUN.finditer(segment))
        return False

    def find(self, text: str) -> list[Hit]:
        """Every enrolled phone and name in `text`: (start, end, type, token value)."""
        found: list[Hit] = []
        for pattern, hits_of, wanted in ((_CHAIN, self._chain_hits, self._phone_keys),
                                         (_NAME_RUN, self._run_hits, self._name_source)):
            if wanted is None:
                continue
            for m in pattern.finditer(text):
                found += [(m.start() + s, m.start() + e, t, v) for s, e, t, v in hits_of(m.group())]
        return found

    # -- phones ------------------------------------------------------------------------

    def _phones_in_chain(self, chain: str) -> tuple[Hit, ...]:
        groups = [(m.start(), m.end()) for m in _GROUP.finditer(chain)]
        if sum(e - s for s, e in groups) < _MIN_DIGITS:
            return _NO_HITS
        trunk = [chain[s:e] == "0" and chain[s - 1 : s] == "(" and chain[e : e + 1] == ")"
                 for s, e in groups]
        readings: list[tuple[int, int, str]] = []  # start group, end group, E.164
        for i in range(len(groups)):
            if trunk[i]:
                continue
            digits = ""
            for j in range(i, min(len(groups), i + phone_detector.MAX_GROUPS)):
                if not trunk[j]:
                    digits += chain[groups[j][0] : groups[j][1]]
                e164 = self._e164(digits, plus=i == 0 and chain[0] == "+")
                if e164 is not None:
                    readings.append((i, j, e164))
        enrolled = self._enrolled(self._phone_keys, "phone", [r[2] for r in readings])
        hits: list[Hit] = []
        taken_to = -1
        for i, j, e164 in sorted((r for r, ok in zip(readings, enrolled, strict=True) if ok),
                                 key=lambda r: (r[0], -r[1])):
            if i <= taken_to:
                continue  # inside a longer number already taken
            taken_to = j
            start = 0 if i == 0 else groups[i][0]  # a "+" belongs to the number
            hits.append((start, groups[j][1], "phone", e164))
        return tuple(hits)

    @functools.cached_property
    def _prefixes(self) -> tuple[str, str, str]:
        """(country code, national prefix, international prefix) of the region: made
        when a location first holds a number (phonenumbers is loaded for it)."""
        cc, national, intl = phone_detector._region_prefixes(self._region)
        return cc.decode(), national.decode(), intl.decode()

    def _e164(self, digits: str, plus: bool) -> str | None:
        cc, national, intl = self._prefixes
        if plus:
            body = digits
        elif intl and digits.startswith(intl):
            body = digits[len(intl):]
        elif national and digits.startswith(national):
            body = cc + digits[len(national):]
        else:
            body = digits
        if not 7 <= len(body) <= 15 or body[0] == "0" or len(digits) > 17:
            return None
        return "+" + body

    # -- names -------------------------------------------------------------------------

    def _names_in_run(self, run: str) -> tuple[Hit, ...]:
        words = [(m.start(), m.end(), name_detector.fold_word(m.group()))
                 for m in _WORD.finditer(run)]
        windows: list[tuple[int, int, list[str]]] = []  # first word, last word, values
        for i in range(len(words)):
            for j in range(i + 1, min(len(words), i + MAX_NAME_WORDS)):
                folded = " ".join(w[2] for w in words[i : j + 1])
                values = [folded]
                written = run[words[i][0] : words[j][1]]
                if not written.isascii():  # as enrolled before folded forms were
                    values.append(name_detector.canonical(
                        " ".join(m.group() for m in _WORD.finditer(written))))
                windows.append((i, j, values))
        flat = [v for _, _, values in windows for v in values]
        enrolled = self._enrolled(self._all_name_keys(), "name", flat)
        matched, at = [], 0
        for i, j, values in windows:
            if any(enrolled[at : at + len(values)]):
                matched.append((i, j))
            at += len(values)
        hits: list[Hit] = []
        taken_to = -1
        for i, j in sorted(matched, key=lambda w: (w[0], -w[1])):
            if i <= taken_to:
                continue
            taken_to = j
            value = " ".join(sorted(w[2] for w in words[i : j + 1]))
            hits.append((words[i][0], words[j][1], "name", value))
        return tuple(hits)

    def _all_name_keys(self) -> np.ndarray:
        if self._name_keys is None:
            # sorted without repeats (np.unique would import numpy.ma: 10 ms a command)
            self._name_keys = dedupe_sorted(np.sort(np.asarray(self._name_source, np.uint64)))
        return self._name_keys

    # -- keying ------------------------------------------------------------------------

    def _enrolled(self, keys: np.ndarray, id_type: str, values: list[str]) -> list[bool]:
        """Which values are enrolled: keyed and looked up in the sorted keys. A location
        has a handful of readings: one by one (numpy's and the bulk CMAC's per-call
        overhead would be most of the cost); a long one in bulk."""
        if len(values) <= _ONE_BY_ONE:
            out = []
            for v in values:
                wanted = np.uint64(u64_of(self._digester.digest(id_type, v)))
                at = int(keys.searchsorted(wanted))
                out.append(at < len(keys) and keys[at] == wanted)
            return out
        wanted = to_u64(self._digester.digest_many(id_type, values))
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        return (keys[at] == wanted).tolist()


def _enough_digits(text: str) -> bool:
    data = text.encode("utf-8", "replace")
    return len(data) - len(data.translate(None, b"0123456789")) >= _MIN_DIGITS
