"""What a page holds but does not show (attribute values, comments, script and style
bodies) is read: normalising a page for its text dropped tags whole, so an identity code
in a form's value, an address in a mailto link or a page's JSON state was never seen,
and the page was "Scanned ok"."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.scan_throughput import build_index
from vahti.demo import synthetic
from vahti.matchers import html_hidden
from vahti.matchers import scanfiles as sf
from vahti.matchers.engine import Scanner, ScanOptions
from vahti.matchers.keys import Key
from vahti.matchers.normalize import normalize

KEY = Key(bytes(range(32)))
PEOPLE = [p for p in synthetic.make_people(40, seed=33) if p.hetu[6] == "-"][:12]
INDEX = build_index(KEY, PEOPLE, True)


def _cases(p: synthetic.Person) -> dict[str, tuple[str, str, str]]:
    """name: (markup, identifier type, the identifier as written in the markup)."""
    h, e = p.hetu, p.email
    dashed = f"{h[:6]}&#45;{h[7:]}"
    escaped = f"{h[:6]}\\u002d{h[7:]}"
    return {
        "input value": (f'<input type="text" name="hetu" value="{h}">', "hetu", h),
        "title": (f'<span title="potilas {h}">x</span>', "hetu", h),
        "data attribute": (f'<tr data-id="{h}"><td>x</td></tr>', "hetu", h),
        "entity in a value": (f'<input value="{dashed}">', "hetu", dashed),
        "comment": (f"<!-- vanha rivi: {h} -->", "hetu", h),
        "script state": (f'<script>window.__S={{"p":{{"hetu":"{h}"}}}};</script>', "hetu", h),
        "escape in a script": (f'<script>var x = "{escaped}";</script>', "hetu", escaped),
        "style": (f"<style>/* {h} */ p {{ color: red }}</style>", "hetu", h),
        "mailto": (f'<a href="mailto:{e}">kirjoita</a>', "email", e),
        "meta": (f'<meta name="author" content="{e}">', "email", e),
    }


def _page(inner: str) -> str:
    return f"<html><body><div class=\"post\"><p>Hei</p>{inner}<p>loppu</p></div></body></html>"


@pytest.mark.parametrize("case", list(_cases(PEOPLE[0])))
def test_an_identifier_the_page_does_not_show_is_found(case):
    p = PEOPLE[0]
    markup, id_type, written = _cases(p)[case]
    page = _page(markup)
    found = Scanner(INDEX, KEY).scan_text(page, "page.html", "html")
    assert [(f.id_type, f.ref, page[f.start:f.end]) for f in found] == [(id_type, p.ref, written)]
    # the bytes path gives the same findings
    for codec in ("utf-8", "cp1252"):
        data = page.encode(codec)
        got, _ = Scanner(INDEX, KEY).scan_bytes(data, 0, len(data), codec, "page.html", "html")
        assert got == found


def test_what_the_page_shows_is_found_once_and_what_it_hides_once():
    p = PEOPLE[1]
    page = _page(f'<a href="mailto:{p.email}">{p.email}</a> <b title="{p.hetu}">{p.hetu}</b>')
    found = Scanner(INDEX, KEY).scan_text(page, "page.html", "html")
    spans = sorted((page[f.start:f.end], f.start) for f in found)
    assert [s for s, _ in spans] == sorted([p.email] * 2 + [p.hetu] * 2)
    assert len({at for _, at in spans}) == 4
    # an identifier cut by inline tags in the text is read as before
    cut = _page(f"{p.hetu[:7]}<b>{p.hetu[7:]}</b>")
    (f,) = Scanner(INDEX, KEY).scan_text(cut, "page.html", "html")
    assert cut[f.start:].startswith(p.hetu[:7])


def test_a_note_in_a_page_s_script_or_comment_is_found():
    p, q = PEOPLE[2], PEOPLE[3]
    note_p = " ".join(p.notes[0].split()[5:45])
    note_q = " ".join(q.notes[0].split()[5:45])
    page = _page(f"<script>var s = {json.dumps({'teksti': note_p})};</script>"
                 f"<p>x</p><!-- {note_q} -->")
    found = Scanner(INDEX, KEY).scan_text(page, "page.html", "html")
    frags = {f.ref: page[f.start:f.end] for f in found if f.kind == "fragment"}
    assert set(frags) == {p.ref, q.ref}
    assert frags[p.ref] in json.dumps({"teksti": note_p}) and frags[q.ref] in note_q


def test_nothing_hidden_nothing_more():
    """A page whose tags hold no value costs no second reading, and finds as before."""
    p = PEOPLE[4]
    page = _page(f"<table><tr><td>{p.full_name}</td><td>{p.hetu}</td></tr></table>")
    norm = normalize(page, html_tags=True)
    assert html_hidden.hidden_text(page, norm.matched) is not None  # (class="post")
    bare = "<p>" + p.hetu + "</p><br/>"
    assert html_hidden.hidden_text(bare, normalize(bare, html_tags=True).matched) is None
    (f,) = Scanner(INDEX, KEY).scan_text(page, "page.html", "html")
    assert page[f.start:f.end] == p.hetu


def test_hidden_text_maps_back_to_the_page():
    page = 'ab<x title="123">cd<!-- 4567 -->e'
    norm = normalize(page, html_tags=True)
    hidden = html_hidden.hidden_text(page, norm.matched)
    assert hidden is not None
    assert hidden.text == '<x title="123">\n<!-- 4567 -->'
    s, e = hidden.to_page(np.array([hidden.text.index("123"), hidden.text.index("4567")]),
                          np.array([hidden.text.index("123") + 3, hidden.text.index("4567") + 4]))
    assert [page[a:b] for a, b in zip(s.tolist(), e.tolist(), strict=True)] == ["123", "4567"]


@pytest.mark.parametrize("task_bytes", [8 << 20, 48 << 10])
def test_a_page_file_is_read_hidden_parts_and_all(tmp_path, monkeypatch, task_bytes):
    """A saved page, judged whole or cut in ranges, jobs 1 and 2: its findings are those
    of the page scanned as text, hidden parts included."""
    monkeypatch.setattr(sf, "TASK_BYTES", task_bytes)
    monkeypatch.setattr(sf, "RANGE_BYTES", 4 << 10)
    posts = []
    for i in range(900):
        p = PEOPLE[i % len(PEOPLE)]
        markup = list(_cases(p).values())[i % 10][0]
        posts.append(f'<div class="post" id="p{i}"><p>Viesti {i} äö</p>{markup}</div>\n')
    page = "<html><body>\n" + "".join(posts) + "</body></html>\n"
    path = tmp_path / "forum.html"
    path.write_text(page, encoding="utf-8")
    assert path.stat().st_size > 48 << 10
    opts = ScanOptions()
    expected = Scanner(INDEX, KEY, opts).scan_text(page, str(path), "html")
    assert len([f for f in expected if f.kind == "identifier"]) == 900
    for jobs in (1, 2):
        events = list(sf.scan_files([str(path)], INDEX, KEY, opts, jobs=jobs))
        assert events[:-1] == expected
        assert events[-1].kind == "html" and events[-1].status == "ok"


def test_the_c_join_is_the_python_join():
    rng = synthetic.random.Random(5)
    pieces = ["<b>", "</span>", '<a href="mailto:x@y.fi">', "<!-- ä € 😀 -->", "&auml;",
              "\\u00e4", "teksti ", "Ω", "<script>var x = 1;</script>", "<p class='x'>", "\u3000"]
    for _ in range(3000):
        page = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12)))
        norm = normalize(page, html_tags=True, escapes=rng.random() < 0.5)
        if norm.matched is None:
            continue
        c = html_hidden.hidden_text(page, norm.matched)
        py = html_hidden._hidden_text_python(page, norm.matched)
        assert (c is None) == (py is None)
        if c is not None and py is not None:
            assert c.text == py.text and c.at.tolist() == py.at.tolist()
            assert c.source.tolist() == py.source.tolist()
