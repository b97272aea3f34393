"""`vahti report weekly` end to end: a real database, real enrolment, scan, alerts and
deliveries, the report in every format, headless Chromium over the HTML, and the
privacy check over everything written (the reports included).

A past week (2025-W10, Monday 2025-03-03) is filled through the storage repository
functions with chosen times; the current week through a real `vahti scan`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from PIL import Image

from tests.privacy import assert_no_plaintext, everything_written
from tests.support.receivers import free_port
from vahti.demo.synthetic import make_people, register_csv
from vahti.reports.render_json import load_schema
from vahti.scheduler.alerting import raise_health_alert, raise_sighting_alerts
from vahti.storage import runs
from vahti.storage.pages import PageRecord, upsert_pages
from vahti.storage.sightings import Sighting, record_sightings

pytestmark = pytest.mark.integration

WEEK = "2025-W10"
MONDAY = datetime(2025, 3, 3, tzinfo=UTC)
OLD = "http://old.example.onion/paste/1"
PREV = "http://prev.example.onion/paste/2"
PAGE_X = "http://pastes.example.onion/raw/x<b>&|y"  # hostile characters on purpose
PAGE_Y = "http://leak.example.onion/files/dump.zip!rows.csv"
EXPOSED_AT = MONDAY + timedelta(days=1, hours=9, minutes=15)  # Tue 04.03. 09:15 UTC
HOOK_SECRET = "report-test-hook-secret"


# --- filling the database -----------------------------------------------------------------




def run_ok(vahti, *args, ok=(0,), **kw):
    result = vahti.run(*args, **kw)
    assert result.returncode in ok, (args, result.stdout, result.stderr)
    return result


def enroll(vahti, tmp_path: Path, n: int = 12, seed: int = 47):
    people = make_people(n, seed=seed)
    run_ok(vahti, "init")
    path = tmp_path / "register.csv"
    path.write_text(register_csv(people), encoding="utf-8")
    run_ok(vahti, "enroll", str(path))
    path.unlink()
    return people


def seen(page: str, ref: str, id_type: str, at: datetime, start: int, source: str = "pastes",
         score: float = 1.0) -> Sighting:
    kind = "fragment" if id_type == "fragment" else "identifier"
    return Sighting(page_url=page, source=source, ref=ref, id_type=id_type, kind=kind,
                    start=start, end=start + 11, score=score, page_content_id="cd" * 16,
                    seen_at=at)


def page(url: str, source: str, at: datetime) -> PageRecord:
    return PageRecord(url=url, source=source, content_id="cd" * 16, size=4096, seen_at=at)


def configure(vahti, tmp_path: Path) -> dict:
    """Two channels (a file that takes every alert, a webhook nobody answers: dead after
    one attempt) and two sources (for source health)."""
    channels = {
        "file": {"type": "stdout", "path": str(tmp_path / "alerts.jsonl")},
        "hook": {"type": "webhook", "url": f"http://127.0.0.1:{free_port()}/hook",
                 "secret_env": "HOOK_SECRET", "timeout_s": 2.0},
    }
    lines = ["[alerts]", "max_attempts = 1", ""]
    for name, table in channels.items():
        lines.append(f"[channels.{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
        lines.append("")
    with (vahti.home / "config.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n" + "\n".join(lines))
    run_ok(vahti, "sources", "add", "pastes", "--kind", "url",
           "--url", "http://pastes.example.onion/archive")
    run_ok(vahti, "sources", "add", "forum-a", "--kind", "url",
           "--url", "http://forum.example.onion/t/1")
    return channels


def plant_week(vahti, tmp_path: Path, people) -> None:
    """The hand-counted history below; then deliver the alerts with the real CLI."""
    ref = [p.ref for p in people]
    channels = configure(vahti, tmp_path)
    with vahti.storage() as db:
        old_at = MONDAY - timedelta(days=30)
        record_sightings(db, [seen(OLD, ref[0], "hetu", old_at, 10)])
        upsert_pages(db, [page(OLD, "pastes", old_at)])
        raise_sighting_alerts(db, channels, now=old_at + timedelta(hours=1))
        prev_at = MONDAY - timedelta(days=4, hours=-10)  # Thu 27.02. 10:00
        record_sightings(db, [seen(PREV, ref[1], "email", prev_at, 0),
                              seen(PREV, ref[2], "hetu", prev_at, 40)])
        upsert_pages(db, [page(PREV, "pastes", prev_at)])
        raise_sighting_alerts(db, channels, now=prev_at + timedelta(hours=1))
        # the week: person 0 seen again, 3-7 for the first time, a canary (not a person)
        y_at = MONDAY + timedelta(days=3, hours=14)
        record_sightings(db, [
            seen(PAGE_X, ref[0], "hetu", EXPOSED_AT, 100),
            seen(PAGE_X, ref[3], "hetu", EXPOSED_AT, 200),
            seen(PAGE_X, ref[4], "phone", EXPOSED_AT, 300),
            seen(PAGE_X, ref[4], "fragment", EXPOSED_AT, 400, score=0.7731),
            seen(PAGE_X, ref[5], "hetu", EXPOSED_AT, 500),
        ])
        upsert_pages(db, [page(PAGE_X, "pastes", EXPOSED_AT - timedelta(minutes=5))])
        raise_sighting_alerts(db, channels, now=EXPOSED_AT + timedelta(hours=1))
        record_sightings(db, [
            seen(PAGE_Y, ref[6], "email", y_at, 0, source="leakforum"),
            seen(PAGE_Y, ref[7], "hetu", y_at, 60, source="leakforum"),
            seen(PAGE_Y, "CANARY-0001", "hetu", y_at, 90, source="leakforum"),
        ])
        upsert_pages(db, [page(PAGE_Y, "leakforum", y_at)])
        raise_sighting_alerts(db, channels, now=y_at + timedelta(hours=1))
        raise_health_alert(db, channels, source="forum-a", problem="failing",
                           since=MONDAY + timedelta(days=1), details={"failed_streak": 3},
                           now=MONDAY + timedelta(days=2))
        # run history for source health (judged at report time): pastes fine, forum-a failing
        run_id = runs.start_run(db, "pastes", "crawl")
        runs.finish_run(db, run_id, runs.RunStats(pages=3, new_sightings=2))
        for _ in range(3):
            run_id = runs.start_run(db, "forum-a", "crawl")
            runs.finish_run(db, run_id, runs.RunStats(errors={"http_503": 2}), state="failed")
    delivered = json.loads(run_ok(vahti, "alerts", "deliver", "--json",
                                  extra_env={"HOOK_SECRET": HOOK_SECRET}).stdout)
    assert delivered["dead"] == 5 and delivered["sent"] == 5  # 5 alerts x (file, hook)


def plaintexts(people) -> list[str]:
    values = []
    for p in people:
        values += [p.hetu, p.email, p.phone, p.full_name, p.notes[0][:60], p.notes[0][-60:]]
    return values


def report(vahti, tmp_path: Path, fmt: str, *week: str) -> tuple[Path, str]:
    out = tmp_path / "reports" / f"weekly.{fmt}"
    out.parent.mkdir(exist_ok=True)
    result = run_ok(vahti, "report", "weekly", *week, "--format", fmt, "--out", str(out))
    assert str(out) in result.stdout and result.stderr == ""
    assert out.stat().st_mode & 0o777 == 0o600
    return out, out.read_text(encoding="utf-8")


def validate(data: dict) -> None:
    jsonschema.Draft202012Validator(
        load_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(data)


# --- the reports ----------------------------------------------------------------------------


def test_weekly_report_figures_in_every_format_and_no_plaintext(vahti, tmp_path):
    people = enroll(vahti, tmp_path)
    plant_week(vahti, tmp_path, people)
    ref = [p.ref for p in people]

    _, text = report(vahti, tmp_path, "json", "--week", WEEK)
    data = json.loads(text)
    validate(data)
    assert data["week"]["id"] == WEEK and data["previous_week"]["id"] == "2025-W09"
    h = data["headline"]
    assert (h["new_persons"], h["new_persons_previous"], h["change"]) == (5, 2, 3)
    assert (h["total_exposed"], h["persons_seen"], h["sightings"]) == (8, 6, 7)
    assert (h["pages"], h["sources"], h["new_sources"], h["fragment_sightings"]) == (2, 2, 1, 1)
    assert (h["alerts"], h["unhealthy_sources"]) == (3, 1)
    assert [(s["source"], s["persons"], s["new_persons"], s["new_source"])
            for s in data["by_source"]] == [("pastes", 4, 3, False), ("leakforum", 2, 2, True)]
    assert {t["id_type"]: t["persons"] for t in data["by_type"]} == {
        "hetu": 4, "email": 1, "phone": 1, "fragment": 1}
    assert [(p["url"], p["persons"], p["sightings"]) for p in data["top_pages"]] == [
        (PAGE_X, 4, 5), (PAGE_Y, 2, 2)]
    assert data["top_pages"][0]["first_seen"] == (EXPOSED_AT - timedelta(minutes=5)).isoformat()
    assert data["fragments"] == {"sightings": 1, "persons": 1, "pages": 1, "best_score": 0.7731}
    assert [s["source"] for s in data["new_sources"]] == ["leakforum"]
    health = {s["source"]: s for s in data["health"]["sources"]}
    assert health["pastes"]["verdict"] == "ok" and health["pastes"]["healthy"]
    assert health["forum-a"]["verdict"] == "failing" and health["forum-a"]["failed_streak"] == 3
    assert health["forum-a"]["errors"] == {"http_503": 6}
    alerts = data["alerts"]
    assert (alerts["total"], alerts["sighting"], alerts["health"], alerts["persons"]) == (3, 2, 1,
                                                                                         6)
    assert alerts["states"] == {"pending": 0, "sending": 0, "sent": 3, "dead": 3}
    assert {c["channel"]: (c["states"]["sent"], c["states"]["dead"])
            for c in alerts["channels"]} == {"file": (3, 0), "hook": (0, 3)}
    days = {d["date"]: (d["new_persons"], d["sightings"]) for d in data["trend"]}
    assert days["2025-02-27"] == (2, 2) and days["2025-03-04"] == (3, 5)
    assert days["2025-03-06"] == (2, 2) and sum(n for n, _ in days.values()) == 7
    dpo = data["dpo"]
    assert (dpo["data_subjects"], dpo["new_data_subjects"], dpo["special_category_subjects"]) \
        == (6, 5, 1)
    assert (dpo["sightings"], dpo["pages"]) == (7, 2)
    assert dpo["first_seen"] == EXPOSED_AT.isoformat()
    assert dpo["art33_deadline"] == (EXPOSED_AT + timedelta(hours=72)).isoformat()
    assert dpo["art33_passed"] is True and dpo["art33_hours_left"] < 0
    assert dpo["new_refs"] == sorted(ref[3:8])
    assert dpo["refs"] == sorted([ref[0], *ref[3:8]])
    assert "CANARY-0001" not in text
    cats = {c["key"]: c["persons"] for c in dpo["categories"]}
    assert cats == {"national_id": 4, "contact": 2, "customer": 0, "identity": 0, "health": 1}

    html_path, html = report(vahti, tmp_path, "html", "--week", WEEK)
    cards = dict(re.findall(r'data-figure="(\w+)"><div class="num">(\d+)</div>', html))
    assert (cards["new_persons"], cards["new_persons_previous"], cards["total_exposed"]) == (
        "5", "2", "8")
    assert "<script" not in html and "x&lt;b&gt;&amp;|y" in html and "<svg" in html
    assert "2025-03-04 09:15 UTC" in html and "2025-03-07 09:15 UTC" in html

    _, md = report(vahti, tmp_path, "md", "--week", WEEK)
    assert "| Newly exposed persons this week | **5** |" in md
    assert "| Newly exposed persons last week (2025-W09) | 2 |" in md
    assert "| Persons exposed to date | 8 |" in md
    assert "- Exposure first seen: **2025-03-04 09:15 UTC**" in md
    assert "**passed** at report time" in md
    assert "`forum-a` | **failing**" in md

    # stdout without --out: the same report
    printed = run_ok(vahti, "report", "weekly", "--week", WEEK, "--format", "md").stdout
    assert printed.splitlines()[4:20] == md.splitlines()[4:20]

    # privacy: nothing vahti wrote, reports included, holds a planted value or the key
    reports_written = [(str(p), p.read_bytes()) for p in (tmp_path / "reports").iterdir()]
    written = everything_written(vahti, tmp_path / "dump",
                                 extra=[*reports_written, ("report stdout", printed)])
    assert_no_plaintext(written, plaintexts(people))
    key = (vahti.home / "key").read_text().strip()
    for where, blob in reports_written + [("stdout", printed.encode())]:
        for form in (key.lower(), key.upper()):
            assert form.encode() not in blob, f"the key is in {where}"
    assert html_path.exists()


def test_current_week_from_a_real_scan_and_the_72_hours_still_running(vahti, tmp_path):
    people = enroll(vahti, tmp_path, n=20, seed=48)
    planted = people[:4]
    dump = tmp_path / "dump.txt"
    lines = ["user;hetu;mail;note"]
    for i, p in enumerate(planted):
        lines.append(f"{i};{p.hetu};{p.email};asiakas")
    lines.append("999;nothing here;nobody@example.invalid;x")
    dump.write_text("\n".join(lines) + "\n", encoding="utf-8")
    scanned = vahti.run("scan", str(dump), "--source", "dumpsite")
    assert scanned.returncode == 1, scanned.stderr  # 1: someone was found
    dump.unlink()

    before = datetime.now(UTC)
    printed = run_ok(vahti, "report", "weekly", "--format", "json").stdout
    data = json.loads(printed)
    validate(data)
    iso = before.isocalendar()
    assert data["week"]["id"] == f"{iso.year}-W{iso.week:02d}"
    h = data["headline"]
    assert (h["new_persons"], h["total_exposed"], h["persons_seen"]) == (4, 4, 4)
    assert h["new_persons_previous"] == 0 and h["sources"] == 1
    assert {t["id_type"] for t in data["by_type"]} >= {"hetu", "email"}
    assert [s["source"] for s in data["new_sources"]] == ["dumpsite"]
    assert sorted(data["dpo"]["new_refs"]) == sorted(p.ref for p in planted)
    assert data["dpo"]["art33_passed"] is False
    assert 71.0 <= data["dpo"]["art33_hours_left"] <= 72.0
    assert data["health"]["sources"] == [] and "no sources configured" in data["health"]["note"]
    md = run_ok(vahti, "report", "weekly", "--format", "md").stdout
    assert "not yet passed" in md

    written = everything_written(vahti, tmp_path / "db-dump",
                                 extra=[("json report", printed), ("md report", md)])
    assert_no_plaintext(written, plaintexts(people))


def test_bad_week_or_format_is_a_one_line_error(vahti, tmp_path):
    run_ok(vahti, "init")
    for week, message in (("2026-W99", "2026 has no ISO week 99"),
                          ("last week", "not an ISO week like 2026-W47")):
        result = vahti.run("report", "weekly", "--week", week, "--format", "json")
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    result = vahti.run("report", "weekly", "--format", "pdf")
    assert result.returncode == 2 and "pdf" in result.stderr
    missing = tmp_path / "no-such-dir" / "r.html"
    result = vahti.run("report", "weekly", "--format", "html", "--out", str(missing))
    assert result.returncode == 2 and "cannot write" in result.stderr
    assert not missing.parent.exists()
    # an empty database gives an empty report, not an error
    empty = json.loads(run_ok(vahti, "report", "weekly", "--week", "2026-W47",
                              "--format", "json").stdout)
    validate(empty)
    assert empty["headline"]["total_exposed"] == 0 and empty["top_pages"] == []


# --- headless Chromium ----------------------------------------------------------------------


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _kill_stragglers(marker: str) -> None:
    """Chromium helpers that left our process group (crashpad does): found by the
    profile directory unique to this run, so only processes this test started."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)


def chromium(tmp_path: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    """Run headless Chromium once with a profile of its own; all its processes end."""
    exe = shutil.which("chromium")
    assert exe, ("chromium is not installed: `make system-deps` installs Debian's chromium "
                 "(apt-get install --no-install-recommends chromium)")
    profile = tmp_path / "chromium-profile"
    home = tmp_path / "chromium-home"
    home.mkdir(exist_ok=True)
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--disable-crash-reporter", "--disable-extensions", "--no-first-run",
           "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_CACHE_HOME": str(home / ".cache")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)  # its own process group
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.communicate()
        raise AssertionError(f"chromium did not finish within {timeout} s") from None
    finally:
        _kill_group(proc.pid)
        _kill_stragglers(str(profile))
    return subprocess.CompletedProcess(cmd, proc.returncode, out.decode(errors="replace"),
                                       err.decode(errors="replace"))


@pytest.mark.chromium
def test_html_report_renders_in_headless_chromium(vahti, tmp_path):
    people = enroll(vahti, tmp_path)
    plant_week(vahti, tmp_path, people)
    html_path, _ = report(vahti, tmp_path, "html", "--week", WEEK)
    url = html_path.resolve().as_uri()

    shot = tmp_path / "report.png"
    done = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", url)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    with Image.open(shot) as img:
        rgb = img.convert("RGB")
        assert rgb.size == (1280, 2000)
        colours = rgb.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50  # text, cards, chart: not blank
        white = sum(n for n, c in colours if c == (255, 255, 255))
        assert white < 0.97 * rgb.size[0] * rgb.size[1]
        # the red of the newly-exposed bars (inline SVG) and of the alarm figures (CSS)
        reds = sum(n for n, (r, g, b) in colours if r > 150 and g < 90 and b < 80)
        assert reds > 500

    dom = chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    cards = dict(re.findall(r'data-figure="(\w+)"><div class="num">(\d+)</div>', dom.stdout))
    assert cards["new_persons"] == "5" and cards["total_exposed"] == "8"
    assert cards["new_persons_previous"] == "2" and cards["alerts"] == "3"
    text = " ".join(re.sub(r"<[^>]+>", " ", dom.stdout).split())
    assert "5 newly exposed persons this week" in text
    assert "8 persons exposed to date" in text
    assert "For the data-protection officer" in text and "2025-03-07 09:15 UTC" in text

    pdf = tmp_path / "report.pdf"
    printed = chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", url)
    assert printed.returncode == 0 and pdf.read_bytes().startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes())) >= 2  # A4 pages

    written = everything_written(vahti, tmp_path / "dump", extra=[
        ("screenshot", shot.read_bytes()), ("dom", dom.stdout), ("pdf", pdf.read_bytes())])
    assert_no_plaintext(written, plaintexts(people))
