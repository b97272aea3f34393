"""The scan engine against a simple reference, on seeded obfuscated leak text.

The reference is the engine's original algorithm, kept here in its plainest form:
the whole text normalised at once (`normalize` with its offset map), the
detectors run on the normalised text, offsets mapped back; each hit scored from
the window of `window` input characters around it, normalised on its own, with
the identifier itself left out. The engine cuts corners for speed (clean chunks
as bytes, normalising only windows around candidates, corroboration for all hits
of a chunk at once): whatever it does, its findings (types, people, offsets,
scores) must be these, through `scan_text` and through `scan_bytes` in UTF-8 and
cp1252, with and without the C extension.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from tests.support.index import synthetic_index
from vahti.demo import synthetic
from vahti.matchers import engine, native
from vahti.matchers.detectors import birth_date as birth_date_detector
from vahti.matchers.detectors import name as name_detector
from vahti.matchers.detectors._common import code_points
from vahti.matchers.digest import to_u64
from vahti.matchers.engine import BIRTH_DATE_BONUS, NAME_BONUS, Finding, Scanner, ScanOptions
from vahti.matchers.keys import Key
from vahti.matchers.normalize import normalize

KEY = Key(bytes(range(32)))
PEOPLE = synthetic.make_people(60, seed=31)
OTHERS = synthetic.make_people(20, seed=32)  # identifier-shaped, not enrolled


def _index():
    return synthetic_index(KEY, PEOPLE)


INDEX = _index()


# -- the reference -------------------------------------------------------------------------


def reference_findings(scanner: Scanner, text: str, kind: str, location: str) -> list[Finding]:
    html_tags, sql = kind == "html", kind == "sql"
    norm = normalize(text, html_tags=html_tags, sql=sql)
    hits = set()
    for t, s, e, people in scanner._identify(code_points(norm.text), norm.text):
        s_in, e_in = norm.spans(s, e)
        hits.update(zip([t] * len(s_in), s_in.tolist(), e_in.tolist(), people.tolist(),
                        strict=True))
    w = scanner.options.window
    out = []
    for t, s, e, person in hits:
        a = max(0, s - w)
        window = normalize(text[a : min(len(text), e + w)], html_tags=html_tags, sql=sql)
        ns, ne = s - a, e - a
        if window.starts is not None:
            ns = int(np.searchsorted(window.starts, s - a, side="left"))
            ne = int(np.searchsorted(window.starts, e - a, side="left"))
        around = window.text[:ns] + " \n " + window.text[ne:]
        score = scanner.options.base_score
        found = {"name": name_detector.candidate_values(around),
                 "birth_date": {c for _, _, c in birth_date_detector.find(around)}}
        for corr_type, bonus in (("name", NAME_BONUS), ("birth_date", BIRTH_DATE_BONUS)):
            values = sorted(found[corr_type])
            if not values or corr_type not in INDEX.corroborating:
                continue
            keys = set(to_u64(scanner._digester.digest_many(corr_type, values)).tolist())
            if keys & set(INDEX.corroborating_keys(corr_type, person).tolist()):
                score += bonus
        out.append(Finding("identifier", t, INDEX.refs[person], location, s, e,
                           min(1.0, score)))
    out = [_reported(f, out, w, scanner.options.base_score) for f in out]
    out = [f for f in out if f is not None]
    out.sort(key=lambda f: (f.start, f.end, f.kind, f.id_type, f.ref))
    return out


def _reported(f: Finding, hits: list[Finding], w: int, base: float) -> Finding | None:
    """A pending hit (a run-on code, a phone number without its 0 or after a letter) as
    the type it reads as when corroborated or beside another identifier type of its
    person, else None; any other hit as it is."""
    as_type = engine._REPORTED_AS.get(f.id_type)
    if as_type is None:
        return f
    beside = any(g.ref == f.ref and engine._REPORTED_AS.get(g.id_type, g.id_type) != as_type
                 and abs(g.start - f.start) <= w for g in hits)
    if f.score > base or beside:
        return Finding(f.kind, as_type, f.ref, f.location, f.start, f.end, f.score)
    return None


# -- seeded obfuscated leak text -------------------------------------------------------------

DASHES = ["-", "\u2013", "\u2212", "&#45;", "&#x2d;", "\\u002d", "&ndash;", "\uff0d", "&minus;"]
WORDS = ("ja on ei että hän oli tietokanta vuoto salasana käyttäjä tunnus potilas päivä yö "
         "työ köyhä sää järjestelmä asiakas och att det är för på läkare lösenord öppna "
         "Ärrä Öljy Åsa Mäkelä O'Brien Anna-Liisa naïve café").split()


def _obfuscate_letters(rng: random.Random, s: str) -> str:
    out = []
    for ch in s:
        r = rng.random()
        if ch == "ä" and r < 0.3:
            out.append(rng.choice(["&auml;", "\\u00e4", "&#228;", "a\u0308"]))
        elif ch == "ö" and r < 0.3:
            out.append(rng.choice(["&ouml;", "\\u00f6", "&#xf6;"]))
        elif ch.isdigit() and r < 0.05:
            out.append(chr(0xFF10 + int(ch)))  # full-width
        elif r < 0.02:
            out.append(ch + rng.choice(["\u200b", "\u00ad", "\u200d"]))
        else:
            out.append(ch)
    return "".join(out)


def _hetu_form(rng: random.Random, h: str) -> str:
    sign, rest = h[6], h[7:]
    if sign == "-":
        sign = rng.choice(DASHES)
    if rng.random() < 0.2:
        rest = rest.lower()
    form = h[:6] + sign + rest
    r = rng.random()
    if r < 0.1:
        form = "<b>" + form[:6] + "</b>" + form[6:]
    elif r < 0.2:
        form = _obfuscate_letters(rng, form)
    return form


def _email_form(rng: random.Random, e: str) -> str:
    local, _, domain = e.partition("@")
    at = rng.choice(["@", "@", "&#64;", "&commat;", "\\u0040", " [at] ", "\uff20", "[@]", " (At) ",
                     "{at}", "(ät)"])
    if rng.random() < 0.2:  # defanged
        domain = domain.replace(".", rng.choice(["[.]", "(.)", " [dot] ", "{.}", " piste "]))
    return local + at + domain


def _date_form(rng: random.Random, d) -> str:  # noqa: ANN001
    return rng.choice([f"{d.day}.{d.month}.{d.year}", d.isoformat(),
                       f"{d.day:02d}/{d.month:02d}/{d.year}", f"{d.day}.{d.month}.{d.year}."])


def _filler(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


def _phone_form(rng: random.Random, national: str) -> str:
    if rng.random() < 0.2:  # the country code without its "+" ("358401234567")
        digits = national.replace(" ", "").replace("-", "")
        return rng.choice(["358" + digits[1:], f"358 {digits[1:3]} {digits[3:]}"])
    return rng.choice(synthetic.fi_phone_forms(national))


def _record(rng: random.Random, kind: str) -> str:
    p = rng.choice(PEOPLE + OTHERS)
    q = rng.choice(PEOPLE)  # someone else's name nearby sometimes
    name = p.full_name if rng.random() < 0.7 else q.full_name
    if rng.random() < 0.3:
        name = f"{p.last_name}, {p.first_name}"
    name = _obfuscate_letters(rng, name)
    parts = [name, _hetu_form(rng, p.hetu), _email_form(rng, p.email),
             _phone_form(rng, p.phone), _date_form(rng, p.birth_date)]
    rng.shuffle(parts)
    k = rng.randint(1, len(parts))
    parts = parts[:k]
    if kind == "sql":
        return "(" + ",".join("'" + x.replace("'", "''") + "'" for x in parts) + "),"
    if kind == "html":
        return "<p>" + " <i>" + _filler(rng, rng.randint(0, 8)) + "</i> ".join(parts) + "</p>"
    sep = rng.choice([";", ",", " ", "\t", " | ", "\\n"])
    return sep.join(parts)


def leak_text(seed: int, kind: str, n: int = 220) -> str:
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        r = rng.random()
        if r < 0.55:
            lines.append(_record(rng, kind))
        elif r < 0.8:
            lines.append(_obfuscate_letters(rng, _filler(rng, rng.randint(1, 40))))
        elif r < 0.9:
            lines.append(synthetic.noise_line(rng))
        else:
            lines.append("&amp; &lt;x&gt; \u00a0\u2014 \\t Ω \u20ac " + _filler(rng, 3))
    return "\n".join(lines) + "\n"


def _cp1252_text(text: str) -> str:
    return text.encode("cp1252", "replace").decode("cp1252")


CASES = [(seed, kind) for seed in range(4) for kind in ("text", "html", "sql")]


@pytest.fixture(params=["native", "numpy"])
def kernel(request, monkeypatch):  # noqa: ANN001, ANN201
    if request.param == "numpy":
        monkeypatch.setattr(native, "lib", None)
    elif native.lib is None:
        pytest.fail("matchers._native is not built (pip install -e .)")
    return request.param


@pytest.fixture(params=["chunk", "windows"], autouse=True)
def corroboration(request, monkeypatch):  # noqa: ANN001, ANN201
    """Names and dates read once per chunk (dense hits) or per hit's window (sparse):
    both, whatever the density of the generated text."""
    monkeypatch.setattr(engine, "DENSE_COVER", 10**9 if request.param == "chunk" else 0)
    return request.param


@pytest.mark.parametrize("types", [None, frozenset({"hetu"}), frozenset({"hetu", "phone"})])
@pytest.mark.parametrize(("seed", "kind"), CASES)
def test_scan_text_equals_the_reference(seed, kind, types, kernel):  # noqa: ANN001
    text = leak_text(seed, kind)
    sc = Scanner(INDEX, KEY, ScanOptions(types=types, fragments=False, chunk_chars=4096))
    expected = reference_findings(sc, text, kind, "x")
    assert len(expected) >= 25
    assert any(f.score > 0.8 for f in expected)
    assert sc.scan_text(text, "x", kind) == expected


@pytest.mark.parametrize("codec", ["utf-8", "cp1252"])
@pytest.mark.parametrize("types", [None, frozenset({"hetu"}), frozenset({"hetu", "phone"})])
@pytest.mark.parametrize(("seed", "kind"), CASES)
def test_scan_bytes_equals_the_reference(seed, kind, types, codec, kernel):  # noqa: ANN001
    text = leak_text(seed, kind)
    if codec == "cp1252":
        text = _cp1252_text(text)
    sc = Scanner(INDEX, KEY, ScanOptions(types=types, fragments=False, chunk_chars=4096))
    expected = reference_findings(sc, text, kind, "x")
    data = text.encode(codec)
    found, n_chars = sc.scan_bytes(data, 0, len(data), codec, "x", kind)
    assert n_chars == len(text)
    assert found == expected


@pytest.mark.parametrize("codec", ["utf-8", "cp1252"])
def test_plain_finnish_text_equals_the_reference(codec, kernel):  # noqa: ANN001
    """Dense rows of accented text without entities or escapes (the clean path)."""
    rng = random.Random(5)
    rows = []
    for _ in range(400):
        p = rng.choice(PEOPLE + OTHERS)
        rows.append(f"{p.full_name};{_filler(rng, rng.randint(0, 6))};{p.hetu};{p.email};"
                    f"{p.phone};{p.birth_date.day}.{p.birth_date.month}.{p.birth_date.year}")
    # A lone "&" now and then: a trigger that matches nothing (not clean, nothing changed)
    text = "\n".join(r + " R & D" * (i % 50 == 0) for i, r in enumerate(rows)) + "\n"
    for types in (None, frozenset({"hetu"})):
        sc = Scanner(INDEX, KEY, ScanOptions(types=types, fragments=False, chunk_chars=4096))
        expected = reference_findings(sc, text, "text", "x")
        assert sum(f.score == 1.0 for f in expected) >= 50
        data = text.encode(codec)
        assert sc.scan_text(text, "x") == expected
        assert sc.scan_bytes(data, 0, len(data), codec, "x")[0] == expected


# -- identifiers padded past the context a chunk reads -----------------------------------------
#
# A chunk reads a fixed number of input characters around it, but a detector needs
# normalised ones: characters that normalise to nothing (soft hyphens, zero-width marks,
# tags) can take all of that context. An identifier padded with them across a chunk's end
# was then missed by both chunks, and a digit padded away before a chunk's start was not
# seen by the detector's boundary check.

CHUNK = 4096
PAD = "\u00ad" * 250  # in cp1252 too (0xAD)


def padded(value: str, pad: str = PAD) -> str:
    return pad.join(value)


def padded_record(before: str = "") -> str:
    p = PEOPLE[3]
    return f"\n{p.full_name} {before}{padded(p.hetu)} {padded(p.email)} loppu\n"


def with_record(record: str, at: int) -> str:
    """Lines of filler with `record` put in at character `at`."""
    base = "".join(f"rivi {i} {_filler(random.Random(i), 6)}\n" for i in range(400))
    return base[:at] + record + base[at:]


def border_texts() -> list[str]:
    """The padded record at places from well before the first chunk border to just after
    it."""
    record = padded_record()
    return [with_record(record, at)
            for at in range(max(0, CHUNK - len(record) - 300), CHUNK + 200, len(record) // 7)]


def test_an_identifier_padded_past_the_context_across_a_chunk_border_is_found(kernel):  # noqa: ANN001
    sc = Scanner(INDEX, KEY, ScanOptions(fragments=False, chunk_chars=CHUNK))
    assert len(padded(PEOPLE[3].hetu)) > sc.context_after_read  # more than a chunk reads first
    for text in border_texts():
        expected = reference_findings(sc, text, "text", "x")
        assert {f.id_type for f in expected} == {"hetu", "email"}
        assert all(f.score > 0.9 for f in expected if f.id_type == "hetu")  # the name
        assert sc.scan_text(text, "x") == expected
        for codec in ("utf-8", "cp1252"):
            data = text.encode(codec)
            assert sc.scan_bytes(data, 0, len(data), codec, "x")[0] == expected


@pytest.mark.parametrize("into_pad", [1, 300, 399])
def test_a_digit_padded_away_before_a_chunk_start_still_joins_the_identifier(kernel, into_pad):  # noqa: ANN001
    """'7' + padding + a HETU reads as '7' + the HETU: no identifier there (no boundary),
    wherever a chunk starts in the padding."""
    sc = Scanner(INDEX, KEY, ScanOptions(types=frozenset({"hetu"}), fragments=False,
                                         chunk_chars=CHUNK))
    record = padded_record(before="7" + "\u00ad" * 400)
    assert 400 > sc.context_before
    text = with_record(record, CHUNK - record.index("7") - into_pad)
    assert text[CHUNK - into_pad] == "7"
    assert reference_findings(sc, text, "text", "x") == []
    assert sc.scan_text(text, "x") == []
    data = text.encode("utf-8")
    assert sc.scan_bytes(data, 0, len(data), "utf-8", "x")[0] == []


@pytest.mark.parametrize("form", [
    "{local}[@]{domain}", "{local} (@) {domain}", "{local}@{dom_defanged}",
    "{local}[@]{dom_defanged}", "{local} [ At ] {domain}", "{local} aT {domain}",
    "{local}( @ ){domain}", "{local}{{at}}{domain}", "{local} (ät) {domain}",
    "GET /profiili?email={local}%40{domain}&x=1", "{local}%40{domain}",
])
def test_defanged_and_spelled_out_addresses_are_found(form, kernel):  # noqa: ANN001
    """An address written defanged ("x[@]example[.]fi", how security teams and forums keep
    it from turning into a link), or with "at" in mixed case or spaced inside its
    brackets, was not found: the scan looked for "[at]", "(AT)", " at " only."""
    scanner = Scanner(INDEX, KEY, ScanOptions(types=frozenset({"email"})))
    people = PEOPLE[:12]
    lines = []
    for p in people:
        local, _, domain = p.email.partition("@")
        lines.append("yhteys: " + form.format(local=local, domain=domain,
                                              dom_defanged=domain.replace(".", "[.]")) + ", kiitos")
    found = scanner.scan_text("\n".join(lines), "x", "text")
    assert [f.ref for f in found] == [p.ref for p in people]
