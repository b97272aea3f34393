import logging
import time

from vahti.logs import setup_logging
from vahti.matchers.redact import REDACTED, redact

SHAPED = [
    "131052-308T",  # HETU
    "010594Y9032",  # HETU, 2000s century sign of 2023
    "19811218-9876",  # Swedish personnummer
    "matti.meikalainen@example.fi",
    "matti [at] example.fi",
    "matti[@]example[.]fi",
    "matti (AT) example(.)fi",
    "+358 40 123 4567",
    "040-1234567",
]


def test_redact_identifier_shapes():
    for value in SHAPED:
        out = redact(f"before {value} after")
        assert value not in out and REDACTED in out, value
    # ordinary log content survives
    for text in ("row 1234, column hetu: not a valid identity code",
                 "listening on 127.0.0.1:27017", "took 12.5 s, 40000 rows"):
        assert redact(text) == text


def test_log_file_and_traceback_are_redacted(tmp_path):
    setup_logging(tmp_path, "DEBUG", "CRITICAL")
    log = logging.getLogger("vahti.test")
    log.info("oops %s", "131052-308T")
    try:
        raise ValueError("bad value 131052-308T")
    except ValueError:
        log.exception("failed")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = (tmp_path / "logs" / "vahti.log").read_text()
    assert "131052-308T" not in text
    assert text.count(REDACTED) >= 2 and "ValueError" in text
    setup_logging(None)


def test_redact_identifiers_inside_logged_locations():
    # Scrapy and vahti log URLs: an identifier glued to a word or percent-encoded in
    # one is missed by the word boundaries of the prose shapes
    for line in ("Crawled (200) <GET http://x.onion/dump/potilas_131052-308T.txt>",
                 "fetch failed: http://x.onion/?u=matti%40example.fi (http_404)",
                 "fetch failed: http://x.onion/?u=matti%2540example.fi (http_404)",
                 "GET http://x.onion/hetu131052-308T/a", "file:///d/x_19811218-9876.csv"):
        out = redact(line)
        assert "131052-308T" not in out and "matti" not in out and "9876" not in out, out
        assert REDACTED in out
    for clean in ("GET http://x.onion/raw/Xk3jd8Kd?page=2 (http_404)",
                  "wrote /tmp/home/logs/vahti.log, 50% of the quota"):
        assert redact(clean) == clean


def test_redaction_is_linear_in_a_long_token():
    """A hostile site's 200 kB link in a failed-fetch line: each pattern starts only at
    a token's beginning (without that, e-mail and location patterns retried from every
    position: 2 kB took 70 ms, 200 kB would take minutes of a crawl's CPU)."""
    for line in ("x" * 200_000, "fetch failed: http://h/" + "a" * 200_000 + " (timeout)",
                 "w" * 100_000 + "@example.fi"):
        started = time.perf_counter()
        redact(line)
        assert time.perf_counter() - started < 2.0
    assert redact("a" * 50 + ".matti@example.fi") == REDACTED


def test_phones_after_delimiters_are_redacted_in_logs():
    # the same class as the phone detector's boundaries: "tel:", ",", ".", "(" before
    for line in ("soita tel:040 123 4567", "puh.040 123 4567", "rivi Matti,040 123 4567,x",
                 "tel:+358 40 123 4567", "(040 123 4567)", "x=040-123 4567", "[040 123 4567]"):
        out = redact(line)
        assert "123 4567" not in out and "1234567" not in out and REDACTED in out, out


def test_logged_urls_get_the_keyed_location_redaction_when_a_crawl_has_one():
    from vahti.matchers.digest import digest
    from vahti.matchers.index import IndexBuilder
    from vahti.matchers.keys import Key
    from vahti.matchers.locations import LocationRedactor, is_redacted
    from vahti.matchers.redact import redact_locations_with

    key = Key(bytes(range(32)))
    b = IndexBuilder(key)
    b.add("A", {"phone": [digest(key, "phone", "+358401234567")]},
          {"name": [digest(key, "name", "matti meikalainen")]})
    line = "Gave up retrying <GET http://x.onion/Matti_Meikalainen.txt?t=0401234567>"
    assert "Meikalainen" in redact(line)  # no shape: only the watchlist knows the name
    redact_locations_with(LocationRedactor(key, b.build()).redact)
    try:
        out = redact(line)
    finally:
        redact_locations_with(None)
    assert "Meikalainen" not in out and "0401234567" not in out and is_redacted(out), out
