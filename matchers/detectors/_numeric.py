"""Shared shape of the digit-based detectors (personnummer, fødselsnummer, CPR)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from stdnum.exceptions import ValidationError

from ._common import PAD_BEFORE, DigitRuns, code_points


def find_numeric(
    text: str,
    runs: DigitRuns,
    shapes: list[tuple[int, str, tuple[int, ...]]],
    plain_lengths: tuple[int, ...],
    canonical: Callable[[str], str],
    glued: tuple[str, ...] = (),
) -> Iterator[tuple[int, int, str]]:
    """Candidates from digit runs, validated one by one with stdnum.

    `plain_lengths`: a single run of one of these lengths is a candidate.
    `shapes`: (first run length, separator chars, second run lengths) for
    forms like DDMMYY-SSSS. Both ends must be token boundaries, except for the forms
    in `glued` ("plain", "shapes"): those are read glued to letters or punctuation too
    (only digits hide them; the runs are maximal), where the number's check digits set
    it apart as a HETU's check character does (see `hetu`).
    """
    spans: list[tuple[int, int]] = []

    def bounded(p: np.ndarray, e: np.ndarray, form: str) -> np.ndarray:
        if form in glued:
            return np.ones(len(p), dtype=bool)
        return runs.ok_before(p) & runs.ok_after(e)

    if plain_lengths:
        i = np.flatnonzero(np.isin(runs.length, plain_lengths))
        p, e = runs.start[i], runs.end[i]
        ok = bounded(p, e, "plain")
        spans += zip(p[ok].tolist(), e[ok].tolist(), strict=True)
    for first, seps, second in shapes:
        i = np.flatnonzero(runs.length == first)
        if not len(i):
            continue
        table = np.zeros(256, dtype=bool)
        for ch in seps:
            table[ord(ch)] = True
        ok, e = runs.followed_by_run(i, table, second)
        p = runs.start[i]
        ok &= bounded(p, e, "shapes")
        spans += zip(p[ok].tolist(), e[ok].tolist(), strict=True)
    spans.sort()
    for p, e in spans:
        s, t = p - PAD_BEFORE, e - PAD_BEFORE
        try:
            yield s, t, canonical(text[s:t])
        except ValidationError:
            continue


def runs_of(text: str) -> DigitRuns:
    return DigitRuns(code_points(text))
