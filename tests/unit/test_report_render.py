"""Rendering the weekly report: HTML (self-contained), Markdown, JSON (schema), the chart."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from xml.etree import ElementTree

import jsonschema
import pytest

from tests.unit import report_data as data
from vahti.reports.chart import tick_step, trend_svg
from vahti.reports.render_html import render_html
from vahti.reports.render_json import SCHEMA_PATH, load_schema, render_json
from vahti.reports.render_md import code, render_md

SVG_NS = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink")


def validator() -> jsonschema.protocols.Validator:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


@pytest.mark.parametrize("empty", [False, True])
def test_html_is_one_self_contained_file(empty):
    html = render_html(data.report(empty=empty))
    tags = parse(html)
    names = [t for t, _ in tags.tags]
    assert names.count("svg") == 1 and names.count("style") == 1  # the page's only
    for banned in ("script", "link", "img", "iframe", "object", "embed", "a", "base", "form"):
        assert banned not in names, banned
    for tag, attrs in tags.tags:
        for attr, value in attrs.items():
            assert not attr.startswith("on"), (tag, attr)  # no event handlers
            if attr in ("href", "xlink:href", "src"):
                assert value and value.startswith("#"), (tag, attr, value)  # inside only
    # no @import, no url(...): nothing fetched
    assert "@import" not in html and "url(" not in html
    # the only URLs are the SVG namespaces and the page URLs shown as text
    shown = set() if empty else {data.HOSTILE.split("<")[0], data.NEW_PAGE, data.PREV}
    for found in re.findall(r"https?://[^\s\"'<>&]+", html):
        assert found in SVG_NS or any(found.startswith(u.split("?")[0]) for u in shown), found
    assert "@media print" in html and "@page" in html


def test_html_escapes_what_storage_returns():
    html = render_html(data.report())
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;|`x`&quot;&amp;amp;" in html
    text = "".join(parse(html).text)
    assert data.HOSTILE in text  # shown as text, exactly


def test_html_shows_the_headline_figures_and_dpo_section():
    html = render_html(data.report())
    cards = dict(re.findall(r'data-figure="(\w+)"><div class="num">(\d+)</div>', html))
    assert cards["new_persons"] == "3" and cards["new_persons_previous"] == "2"
    assert cards["total_exposed"] == "6" and cards["unhealthy_sources"] == "1"
    text = " ".join(" ".join(parse(html).text).split())
    assert "For the data-protection officer" in text
    assert "Approximately 4 data subjects are concerned this week, 3 of them" in text
    assert "GDPR Art. 9" in text and "Health data" in text
    assert "2026-11-17 02:00 UTC" in text and "2026-11-20 02:00 UTC" in text
    assert "passed" in text  # the default report time is after the mark
    assert "P000004" in text and "P000006" in text
    assert "leakforum" in text and "canary missing" in text and "failing" in text


def test_empty_week_renders_in_every_format():
    report = data.report(empty=True)
    html = render_html(report)
    assert "Nothing was seen this week" in html and "no newly exposed persons" in html
    assert "No exposure was first seen this week" in html
    md = render_md(report)
    assert "| Newly exposed persons this week | **0** |" in md
    assert "_no sightings this week_" in md and "_no alerts this week_" in md
    out = json.loads(render_json(report))
    validator().validate(out)
    assert out["dpo"]["first_seen"] is None and out["fragments"]["best_score"] is None


def test_markdown_tables_survive_hostile_urls():
    md = render_md(data.report())
    assert md.startswith("# vahti weekly exposure report 2026-W47\n")
    row = next(line for line in md.splitlines()
               if line.startswith("| ``") and "4 |" in line)
    cells = re.split(r"(?<!\\)\|", row)[1:-1]
    assert len(cells) == 5  # page, source, persons, sightings, first seen
    assert cells[2].strip() == "3" and cells[3].strip() == "4"
    assert "| Newly exposed persons this week | **3** |" in md
    assert "| Persons exposed to date | 6 |" in md
    assert "`P000004`, `P000005`, `P000006`" in md
    assert "**passed** at report time" in md
    assert "1 sighting, 1 person, 1 page, best score 0.82" in md


def test_code_spans_take_any_content():
    assert code("plain") == "`plain`"
    assert code("a`b") == "``a`b``"
    assert code("`x") == "`` `x ``"
    assert code("a|b") == "`a\\|b`"
    assert code("two\nlines") == "`two lines`"


def test_json_validates_against_the_documented_schema():
    out = json.loads(render_json(data.report()))
    validator().validate(out)
    assert out["headline"]["new_persons"] == 3 and out["headline"]["total_exposed"] == 6
    assert out["dpo"]["art33_passed"] is True
    schema_text = SCHEMA_PATH.read_text()
    assert '"$schema": "https://json-schema.org/draft/2020-12/schema"' in schema_text
    # the schema is strict: a misspelt or extra field fails
    out["headline"]["new_people"] = 1
    with pytest.raises(jsonschema.ValidationError):
        validator().validate(out)


def test_chart_is_inline_svg_with_the_same_information():
    days = data.report().trend
    svg = trend_svg(days)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    ElementTree.fromstring(svg)  # well-formed XML
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg and "<style" not in svg
    assert set(re.findall(r"https?://[^\s\"'<>]+", svg)) == {SVG_NS[0]}
    assert "href" not in svg and "url(" not in svg  # refers to nothing
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    # both panels' labels, every day's name and date, the previous week named
    assert "newly exposed persons" in texts and "sightings" in texts
    assert "previous week" in texts
    for d in days:
        assert f"{d.date:%a}" in texts and f"{d.date:%d.%m.}" in texts
    bars = re.findall(r'<rect [^>]*fill="(#[0-9a-f]{6})"/>', svg)
    assert bars.count("#c0392b") == sum(1 for d in days if d.new_persons)
    assert bars.count("#2c3e50") == sum(1 for d in days if d.sightings)
    assert bars.count("#eeeeee") == 2  # the previous week, in each panel
    values = [str(d.new_persons) for d in days if d.new_persons] + [
        str(d.sightings) for d in days if d.sightings]
    for value in values:  # the value over each bar
        assert value in texts
    assert svg == trend_svg(days)  # deterministic


def test_chart_text_is_escaped_never_markup():
    hostile = '<script>alert(1)</script>&amp;"\' x'
    svg = trend_svg(data.report().trend, title=hostile)
    root = ElementTree.fromstring(svg)
    shown = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert hostile in shown  # shown as written, as text
    assert "<script" not in svg and "&lt;script&gt;" in svg


@pytest.mark.parametrize(("top", "step"), [(0, 1), (1, 1), (4, 1), (5, 2), (8, 2),
                                           (9, 5), (20, 5), (40, 10), (1000, 500)])
def test_chart_ticks_are_few_integers(top, step):
    assert tick_step(top) == step
    assert max(top, 1) * 1.25 / step <= 5
