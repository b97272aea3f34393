"""`_HitWindows.prepare` in C (`matchers._native.window_ready`) against its numpy path.

Per hit, which windows can be read without normalising them on their own, which are
cut from the chunk's normalised text, and their bounds there: the same in C as in
numpy, for hits in order and shuffled (several types in a chunk), windows reaching
either end of the text, texts with entities, tags, escapes, doubled quotes and lone
triggers in the three str kinds. These tests fail (not skip) without the extension.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from vahti.matchers import native
from vahti.matchers.engine import _Hits, _HitWindows
from vahti.matchers.normalize import _special_table, normalize

LIB = native.lib
PIECES = ["&amp;", "&auml;", "&#45;", "&quot", "&", "<b>", "</td>", "<p class=x>", "<", "\\n",
          "\\u00e4", "\\", "''", "'", "\u00a0", "\u00ad", "\u2013", "ä", "Ā", "\U0001d7cf",
          "131052-308T", " Matti Meikäläinen ", "1.2.1980", "abc", " ", "\n", "x" * 9]
KINDS = ["text", "html", "sql", "json"]


class _WithoutWindowReady:
    """The extension without `window_ready`: prepare's numpy path."""

    def __getattr__(self, name: str) -> object:
        if name == "window_ready":
            raise AttributeError(name)
        return getattr(LIB, name)


@pytest.fixture(autouse=True)
def _require_native() -> None:
    if LIB is None or not hasattr(LIB, "window_ready"):
        pytest.fail("matchers._native (with window_ready) is not built (pip install -e .)")


def _prepare(text: str, kind: str, starts: np.ndarray, ends: np.ndarray, w: int):  # noqa: ANN202
    norm = normalize(text, html_tags=kind == "html", sql=kind == "sql")
    hits = _Hits(norm=norm)
    hits.add("hetu", starts, ends, np.zeros(len(starts), dtype=np.int64))
    windows = _HitWindows(text, hits)
    ready = windows.prepare(w, kind)
    return ready, windows.cut, windows.bounds


@pytest.mark.parametrize("seed", range(16))
def test_c_and_numpy_prepare_agree(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    rng = random.Random(seed)
    text = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 300)))
    n = rng.randint(1, 80)
    starts = np.array(sorted(rng.randrange(len(text)) for _ in range(n)), dtype=np.int64)
    ends = np.minimum(len(text), starts + np.array([rng.randint(1, 11) for _ in range(n)]))
    if seed % 2:  # hits of several types: not in order
        order = np.array(rng.sample(range(n), n))
        starts, ends = starts[order], ends[order]
    for kind in KINDS:
        for w in (0, 3, 8, 40, 1000):
            got = _prepare(text, kind, starts, ends, w)
            monkeypatch.setattr(native, "lib", _WithoutWindowReady())
            want = _prepare(text, kind, starts, ends, w)
            monkeypatch.setattr(native, "lib", LIB)
            what = (seed, kind, w)
            assert got[0].dtype == want[0].dtype == np.bool_, what
            assert np.array_equal(got[0], want[0]), what
            if want[1] is None:
                assert got[1] is None and got[2] is None, what
                continue
            assert np.array_equal(got[1], want[1]), what
            assert np.array_equal(got[2], want[2]), what


def test_window_ready_checks_its_arrays() -> None:
    """Arrays of the wrong size or hits outside the text fail, without the text."""
    secret = "131052-308T &amp;"
    table = _special_table(False, True, False)
    one, none = np.array([3], dtype=np.int64), np.zeros(0, dtype=np.int64)
    seg = np.array([0, 0, len(secret), 1], dtype=np.int64)
    for starts, ends, tab in ((one, np.zeros(2, dtype=np.int64), table),
                              (one, np.array([len(secret) + 1]), table),
                              (one, np.array([2]), table), (one, one + 1, table[:10])):
        with pytest.raises(ValueError) as err:
            LIB.window_ready(secret, tab, starts, np.asarray(ends, dtype=np.int64), 5, none,
                             seg, len(secret), 8)
        assert "131052" not in str(err.value)
