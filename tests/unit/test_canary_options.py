"""The common options `canary` and `canary_within`: every kind takes them, validated."""

from __future__ import annotations

import csv
import io

import pytest

from vahti.matchers.keys import Key
from vahti.matchers.register import RegisterSummary, read_register
from vahti.spiders.sources import (
    KINDS,
    Source,
    SourcesError,
    dumps_sources,
    parse_option,
    source_from_table,
)

URLS = {"paste_listing": ("http://p.onion/lists",), "forum": ("http://f.onion/",),
        "site": ("http://s.onion/",), "url": ("http://u.onion/x",)}
CANARY = {"canary": "CANARY-pastes-1", "canary_within": "2d"}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_takes_a_canary(kind):
    s = Source("src", kind, URLS[kind], options=CANARY)
    assert s.option("canary") == "CANARY-pastes-1" and s.option("canary_within") == "2d"
    plain = Source("src", kind, URLS[kind])
    assert plain.option("canary") == "" and plain.option("canary_within") == ""
    assert parse_option(kind, "canary=CANARY-9") == ("canary", "CANARY-9")
    assert parse_option(kind, "canary_within=12h") == ("canary_within", "12h")


def test_canary_round_trips_through_the_file():
    s = Source("src", "url", URLS["url"], options=CANARY)
    assert s.to_table()["options"] == CANARY
    assert "canary" in dumps_sources({"src": s})
    assert source_from_table("src", s.to_table()) == s


@pytest.mark.parametrize("options,where,words", [
    ({"canary": "P-1", "canary_within": "1d"}, "options.canary", "starting with CANARY-"),
    ({"canary": "CANARY-", "canary_within": "1d"}, "options.canary", "starting with CANARY-"),
    ({"canary": "canary-1", "canary_within": "1d"}, "options.canary", "starting with CANARY-"),
    ({"canary": " CANARY-1", "canary_within": "1d"}, "options.canary", "starting with"),
    ({"canary": "CANARY-" + "x" * 200, "canary_within": "1d"}, "options.canary", "at most 200"),
    ({"canary": "CANARY-1"}, "options.canary_within", "needs the duration"),
    ({"canary_within": "1d"}, "options.canary_within", "options.canary is empty"),
    ({"canary": "CANARY-1", "canary_within": "a day"}, "options.canary_within",
     "expected a whole number and a unit"),
    ({"canary": "CANARY-1", "canary_within": "0h"}, "options.canary_within", "longer than zero"),
    ({"canary": 7, "canary_within": "1d"}, "options.canary", "must be a string"),
])
def test_bad_canaries_are_refused_naming_the_field(options, where, words):
    with pytest.raises(SourcesError) as err:
        Source("src", "site", URLS["site"], options=options)
    assert str(err.value).startswith(f"source src: {where}: ")
    assert words in str(err.value)


def test_a_canary_ref_enrolls_like_any_person():
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([
        ["ref", "hetu", "email"],
        ["CANARY-pastes-1", "131052-308T", "canary.pastes@example.fi"],
        ["P-1", "010101A123N", ""],
    ])
    summary = RegisterSummary()
    enrolled = list(read_register(out.getvalue().encode(), Key(bytes(range(32))), summary))
    assert [p.ref for p in enrolled] == ["CANARY-pastes-1", "P-1"]
    assert set(enrolled[0].digests) == {"hetu", "email"} and not summary.problems
