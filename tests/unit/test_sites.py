"""The test sites of vahti/demo/sites, over real loopback HTTP (no tor): the crawler
tests rely on them behaving like the real thing."""

from __future__ import annotations

import csv
import gzip
import io
import random
import re
import tarfile
import threading
import time
import zipfile
from collections import deque
from email.utils import formatdate
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import py7zr
import pytest
import requests

from vahti.demo.sites import (
    ForumSite,
    LeakSite,
    PasteSite,
    Planted,
    dump_csv,
    plant_dump_csv,
    plant_forum_threads,
    plant_paste_texts,
)
from vahti.demo.sites.content import email_spellings, hetu_spellings, phone_spellings
from vahti.demo.synthetic import make_people
from vahti.matchers.detectors import get_detector
from vahti.matchers.normalize import normalize

NO_REDIRECT = {"allow_redirects": False, "timeout": 5}


class Links(HTMLParser):
    """(href, attributes) of every <a> in a page."""

    def __init__(self, document: str):
        super().__init__()
        self.links: list[dict[str, str | None]] = []
        self.rows: list[dict[str, str | None]] = []
        self.feed(document)

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.append(dict(attrs))
        elif tag == "tr":
            self.rows.append(dict(attrs))

    def hrefs(self, prefix: str = "") -> list[str]:
        return [a["href"] for a in self.links if a.get("href", "").startswith(prefix)]

    def rel(self, rel: str) -> str | None:
        return next((a["href"] for a in self.links if a.get("rel") == rel), None)


def get(site, path: str, **kw) -> requests.Response:
    return requests.get(site.url(path), **{**NO_REDIRECT, **kw})


# -- PasteSite ------------------------------------------------------------------


@pytest.fixture
def paste_site():
    with PasteSite(seed=3) as site:
        yield site


def test_paste_listing_pages_newest_first(paste_site: PasteSite) -> None:
    ids = [paste_site.add_paste(f"paste number {i}\n", title=f"title {i}", created=1e9 + i)
           for i in range(45)]
    assert all(re.fullmatch(r"[A-Za-z0-9]{8}", i) for i in ids) and len(set(ids)) == 45
    assert paste_site.paste_ids() == ids[::-1]

    first = get(paste_site, "/")
    assert first.status_code == 200 and first.headers["Content-Type"].startswith("text/html")
    assert int(first.headers["Content-Length"]) == len(first.content)
    links = Links(first.text)
    assert links.hrefs("/paste/") == [f"/paste/{i}" for i in ids[::-1][:20]]
    assert links.rel("next") == "/?page=2" and links.rel("prev") is None
    assert ">title 44</a>" in first.text

    third = Links(get(paste_site, "/?page=3").text)
    assert third.hrefs("/paste/") == [f"/paste/{i}" for i in ids[::-1][40:]]
    assert third.rel("next") is None and third.rel("prev") == "/?page=2"
    assert get(paste_site, "/?page=4").status_code == 404
    assert get(paste_site, "/?page=x").status_code == 400

    late = paste_site.add_paste("appeared while running")  # new pastes go on top
    assert Links(get(paste_site, "/").text).hrefs("/paste/")[0] == f"/paste/{late}"


def test_paste_ids_follow_the_seed() -> None:
    with PasteSite(seed=11) as a, PasteSite(seed=11) as b, PasteSite(seed=12) as c:
        ids = [[s.add_paste("x") for _ in range(3)] for s in (a, b, c)]
    assert ids[0] == ids[1] != ids[2]


def test_paste_page_escapes_and_links_raw(paste_site: PasteSite) -> None:
    pid = paste_site.add_paste("<script>alert(1)</script> & 010101-123N\n", title="<b>x</b>")
    response = get(paste_site, f"/paste/{pid}")
    assert response.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; 010101-123N" in response.text
    assert "<script>" not in response.text and "<b>x</b>" not in response.text
    assert f"/raw/{pid}" in Links(response.text).hrefs()
    assert get(paste_site, "/paste/nope1234").status_code == 404
    assert get(paste_site, "/raw/nope1234").status_code == 404
    assert get(paste_site, "/elsewhere").status_code == 404
    assert requests.post(paste_site.url("/"), timeout=5).status_code == 405


def test_raw_etag_last_modified_and_304(paste_site: PasteSite) -> None:
    text = "Nimi: Aino Virtanen, hetu: 131052-308T\nä ö å €\n"
    pid = paste_site.add_paste(text, created=1_700_000_000)
    raw = get(paste_site, f"/raw/{pid}")
    assert raw.status_code == 200
    assert raw.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert raw.content == text.encode() and raw.headers["Content-Length"] == str(len(raw.content))
    etag, modified = raw.headers["ETag"], raw.headers["Last-Modified"]
    assert etag.startswith('"') and modified == formatdate(1_700_000_000, usegmt=True)

    same = get(paste_site, f"/raw/{pid}", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["ETag"] == etag
    assert "Content-Length" not in same.headers
    assert get(paste_site, f"/raw/{pid}", headers={"If-None-Match": f'"x", W/{etag}'}
               ).status_code == 304
    assert get(paste_site, f"/raw/{pid}", headers={"If-Modified-Since": modified}
               ).status_code == 304
    older = formatdate(1_600_000_000, usegmt=True)
    assert get(paste_site, f"/raw/{pid}", headers={"If-Modified-Since": older}
               ).status_code == 200
    # If-None-Match decides when both are sent (RFC 9110)
    assert get(paste_site, f"/raw/{pid}", headers={"If-None-Match": '"other"',
                                                   "If-Modified-Since": modified}
               ).status_code == 200
    assert paste_site.raw_fetches == {pid: 3} and paste_site.raw_not_modified == {pid: 3}

    paste_site.update_paste(pid, text + "more\n")
    changed = get(paste_site, f"/raw/{pid}", headers={"If-None-Match": etag,
                                                     "If-Modified-Since": modified})
    assert changed.status_code == 200 and changed.content.endswith(b"more\n")
    assert changed.headers["ETag"] != etag and changed.headers["Last-Modified"] != modified

    head = requests.head(paste_site.url(f"/raw/{pid}"), timeout=5)
    assert head.content == b"" and head.headers["Content-Length"] == str(len(text.encode()) + 5)
    assert paste_site.raw_fetches == {pid: 4}  # HEAD downloads nothing

    paste_site.remove_paste(pid)
    assert get(paste_site, f"/raw/{pid}").status_code == 404


def test_raw_bytes_with_their_own_charset(paste_site: PasteSite) -> None:
    data = "Hyvää päivää – 5 €\n".encode("cp1252")
    pid = paste_site.add_paste(data, content_type="text/plain; charset=windows-1252")
    raw = get(paste_site, f"/raw/{pid}")
    assert raw.content == data and raw.headers["Content-Type"].endswith("windows-1252")
    assert "Hyvää päivää – 5 €" in get(paste_site, f"/paste/{pid}").text


def test_block_next_answers_429_with_retry_after(paste_site: PasteSite) -> None:
    pid = paste_site.add_paste("x")
    paste_site.block_next(2)
    first, second = get(paste_site, f"/raw/{pid}"), get(paste_site, "/")
    assert first.status_code == second.status_code == 429
    assert first.headers["Retry-After"] == "1"
    assert get(paste_site, f"/raw/{pid}").status_code == 200
    paste_site.block_next(1, status=503)
    assert get(paste_site, "/").status_code == 503
    assert paste_site.blocked_left == 0
    assert paste_site.raw_fetches == {pid: 1}  # blocked requests served nothing
    assert paste_site.paths() == [f"/raw/{pid}", "/", f"/raw/{pid}", "/"]
    assert paste_site.statuses(f"/raw/{pid}") == {429: 1, 200: 1}


def test_records_connections_requests_and_clear(paste_site: PasteSite) -> None:
    with requests.Session() as session:  # HTTP/1.1 keep-alive: one connection, two requests
        session.get(paste_site.url("/"), timeout=5)
        session.get(paste_site.url("/?page=1"), headers={"X-Probe": "1"}, timeout=5)
    assert len(paste_site.connections) == 1
    requests.get(paste_site.url("/"), timeout=5)
    assert len(paste_site.connections) == 2
    seen = paste_site.requests
    assert [(r.method, r.path) for r in seen] == [("GET", "/"), ("GET", "/?page=1"),
                                                 ("GET", "/")]
    assert seen[1].headers["X-Probe"] == "1" and seen[0].peer[0] == "127.0.0.1"
    assert seen[0].at <= seen[1].at <= time.time()
    assert paste_site.served == {"/": 2, "/?page=1": 1}
    paste_site.clear()
    assert paste_site.connections == [] and paste_site.requests == []
    assert paste_site.served == {} and paste_site.errors == []


def test_slow_ms_and_stop_with_an_open_connection() -> None:
    site = PasteSite(slow_ms=150).start()
    session = requests.Session()
    started = time.monotonic()
    assert session.get(site.url("/"), timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.15
    started = time.monotonic()
    site.stop()  # the session still holds its keep-alive connection open
    assert time.monotonic() - started < 2
    session.close()


def test_add_paste_is_thread_safe_while_serving(paste_site: PasteSite) -> None:
    def add(n: int) -> None:
        for i in range(50):
            paste_site.add_paste(f"{n}-{i}")

    threads = [threading.Thread(target=add, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        assert get(paste_site, "/").status_code == 200
    for t in threads:
        t.join()
    assert len(set(paste_site.paste_ids())) == 200 and paste_site.errors == []


# -- ForumSite ------------------------------------------------------------------


def login(site: ForumSite, session: requests.Session, password: str | None = None
          ) -> requests.Response:
    form = session.get(site.url("/login"), timeout=5)
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text).group(1)
    return session.post(site.url("/login"), data={
        "username": site.username, "password": site.password if password is None else password,
        "csrf": token}, **NO_REDIRECT)


@pytest.fixture
def forum():
    with ForumSite("analyst", "s3cret", seed=5) as site:
        site.add_board("dumps", "Databases & dumps")
        site.add_board("talk", "General talk")
        yield site


def test_forum_redirects_to_login_without_session(forum: ForumSite) -> None:
    for path in ("/", "/board/dumps", "/thread/1", "/no/such/page"):
        response = get(forum, path)
        assert response.status_code == 302 and response.headers["Location"] == "/login"
    with requests.Session() as session:
        session.cookies.set("sid", "forged")
        response = session.get(forum.url("/"), **NO_REDIRECT)
        assert response.status_code == 302 and "Max-Age=0" in response.headers["Set-Cookie"]


def test_forum_login_form_csrf_and_credentials(forum: ForumSite) -> None:
    with requests.Session() as session:
        form = session.get(forum.url("/login"), timeout=5)
        assert form.status_code == 200
        assert '<form method="post" action="/login">' in form.text
        for name in ("username", "password", "csrf"):
            assert f'name="{name}"' in form.text
        assert 'type="hidden" name="csrf"' in form.text

        wrong = login(forum, session, password="guess")
        assert wrong.status_code == 200 and "Invalid username or password" in wrong.text
        assert '<form method="post" action="/login">' in wrong.text and "sid" not in session.cookies

        no_token = session.post(forum.url("/login"), data={"username": "analyst",
                                                           "password": "s3cret"}, **NO_REDIRECT)
        assert no_token.status_code == 403 and "sid" not in session.cookies

        ok = login(forum, session)
        assert ok.status_code == 303 and ok.headers["Location"] == "/"
        cookie = ok.headers["Set-Cookie"]
        assert cookie.startswith("sid=") and "Path=/" in cookie and "HttpOnly" in cookie
        assert forum.login_count == 1 and forum.failed_logins == 2
        index = session.get(forum.url("/"), **NO_REDIRECT)
        assert index.status_code == 200
        assert Links(index.text).hrefs("/board/") == ["/board/dumps", "/board/talk"]
        assert "Databases &amp; dumps" in index.text


def test_forum_csrf_token_is_single_use(forum: ForumSite) -> None:
    with requests.Session() as session:
        form = session.get(forum.url("/login"), timeout=5)
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text).group(1)
        data = {"username": "analyst", "password": "s3cret", "csrf": token}
        assert session.post(forum.url("/login"), data=data, **NO_REDIRECT).status_code == 303
        assert session.post(forum.url("/login"), data=data, **NO_REDIRECT).status_code == 403


def test_forum_board_pagination_and_last_post(forum: ForumSite) -> None:
    tids = [forum.add_thread("dumps", f"thread {i}", [f"opening {i}", f"reply {i}"])
            for i in range(25)]
    forum.add_thread("talk", "elsewhere", ["hi"])
    with requests.Session() as session:
        login(forum, session)
        first = session.get(forum.url("/board/dumps"), **NO_REDIRECT)
        links = Links(first.text)
        shown = [int(h.rsplit("/", 1)[1]) for h in links.hrefs("/thread/")]
        assert shown == tids[::-1][:10]  # most recent activity first
        assert links.rel("next") == "/board/dumps?page=2"
        rows = [r for r in links.rows if r.get("class") == "thread"]
        assert [int(r["data-last-post"]) for r in rows] == [
            forum.thread(t).last_post_id for t in tids[::-1][:10]]

        last = Links(session.get(forum.url("/board/dumps?page=3"), **NO_REDIRECT).text)
        assert len(last.hrefs("/thread/")) == 5 and last.rel("next") is None
        assert last.rel("prev") == "/board/dumps?page=2"
        assert session.get(forum.url("/board/dumps?page=4"), **NO_REDIRECT).status_code == 404
        assert session.get(forum.url("/board/none"), **NO_REDIRECT).status_code == 404

        # a reply bumps the oldest thread to the top with its new last post id
        new_post = forum.add_post(tids[0], "bump")
        bumped = Links(session.get(forum.url("/board/dumps"), **NO_REDIRECT).text)
        assert bumped.hrefs("/thread/")[0] == f"/thread/{tids[0]}"
        top = next(r for r in bumped.rows if r.get("class") == "thread")
        assert top["data-last-post"] == str(new_post)
        assert forum.served["/board/dumps"] == 2


def test_forum_thread_pagination_and_posts(forum: ForumSite) -> None:
    other = forum.add_thread("talk", "first", ["a"])
    tid = forum.add_thread("dumps", "big <thread>", [f"post {i} <b>\nline 2" for i in range(23)])
    posts = forum.thread(tid).posts
    ids = [p.id for p in posts]
    assert ids == sorted(ids) and ids[0] > forum.thread(other).posts[0].id
    with requests.Session() as session:
        login(forum, session)
        pages = []
        url = f"/thread/{tid}"
        while url:
            response = session.get(forum.url(url), **NO_REDIRECT)
            assert response.status_code == 200
            pages.append(response.text)
            url = Links(response.text).rel("next")
        assert len(pages) == 3
        found = [int(n) for text in pages for n in re.findall(r'class="post" id="post-(\d+)"',
                                                              text)]
        assert found == ids
        assert "post 0 &lt;b&gt;<br>\nline 2" in pages[0] and "<b>" not in pages[0]
        assert "big &lt;thread&gt;" in pages[0]
        assert Links(pages[1]).rel("prev") == f"/thread/{tid}"
        assert session.get(forum.url(f"/thread/{tid}?page=9"), **NO_REDIRECT).status_code == 404
        assert session.get(forum.url("/thread/999"), **NO_REDIRECT).status_code == 404


def test_forum_session_expires_after_requests() -> None:
    with ForumSite("u", "p", session_requests=3) as forum, requests.Session() as session:
        forum.add_board("b", "B")
        login(forum, session)
        for _ in range(3):
            assert session.get(forum.url("/"), **NO_REDIRECT).status_code == 200
        expired = session.get(forum.url("/board/b"), **NO_REDIRECT)
        assert expired.status_code == 302 and expired.headers["Location"] == "/login"
        assert "sid" not in session.cookies  # the server cleared it
        assert forum.expired_sessions == 1
        assert login(forum, session).status_code == 303
        assert session.get(forum.url("/board/b"), **NO_REDIRECT).status_code == 200
        assert forum.login_count == 2


def test_forum_session_expires_after_seconds_and_logout() -> None:
    with ForumSite("u", "p", session_seconds=0.2) as forum, requests.Session() as session:
        login(forum, session)
        assert session.get(forum.url("/"), **NO_REDIRECT).status_code == 200
        time.sleep(0.25)
        assert session.get(forum.url("/"), **NO_REDIRECT).status_code == 302
        login(forum, session)
        logout = session.get(forum.url("/logout"), **NO_REDIRECT)
        assert logout.status_code == 302 and logout.headers["Location"] == "/login"
        assert session.get(forum.url("/"), **NO_REDIRECT).status_code == 302


def test_forum_follows_redirects_like_a_browser(forum: ForumSite) -> None:
    with requests.Session() as session:
        landed = session.get(forum.url("/board/dumps"), timeout=5)  # redirects followed
        assert landed.url == forum.url("/login") and 'name="csrf"' in landed.text
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', landed.text).group(1)
        home = session.post(forum.url("/login"), timeout=5,
                            data={"username": "analyst", "password": "s3cret", "csrf": token})
        assert home.url == forum.url("/") and home.history[0].status_code == 303
        assert "/board/dumps" in home.text


# -- LeakSite -------------------------------------------------------------------


def crawl(site: LeakSite) -> tuple[dict[str, requests.Response], set[str]]:
    """Breadth-first over the site's own host; returns fetched pages/files and off-site links."""
    host = urlsplit(site.url()).netloc
    fetched: dict[str, requests.Response] = {}
    offsite: set[str] = set()
    queue = deque([site.url("/")])
    while queue:
        url = queue.popleft()
        if url in fetched:
            continue
        response = requests.get(url, timeout=5)
        fetched[url] = response
        if response.headers["Content-Type"].startswith("text/html"):
            for href in Links(response.text).hrefs():
                target = urljoin(response.url, href)
                if urlsplit(target).netloc == host:
                    queue.append(target)
                else:
                    offsite.add(target)
    return fetched, offsite


def test_leak_standard_layout_is_reachable_and_links_leave_the_host() -> None:
    with LeakSite.standard("nimi;hetu\n", big_size=200_000) as site:
        fetched, offsite = crawl(site)
        paths = {urlsplit(u).path for u in fetched}
        for role in ("victim", "zip", "tar", "7z", "cp1252", "junk", "big", "external", "other"):
            assert site.layout[role] in paths, role
        assert set(site.file_paths()) <= paths
        assert offsite == set(site.external_links)
        assert all(u.startswith(("http://other.example/", "https://other.example/"))
                   for u in offsite)
        index = Links(fetched[site.url("/")].text)
        assert index.hrefs("/victim/") == ["/victim/acme-terapia/", "/victim/nordic-logistics/"]
        victim = Links(fetched[site.url("/victim/acme-terapia/")].text)
        assert "files/db/" in victim.hrefs("files/")
        assert "http://other.example/mirror/acme-terapia.zip" in victim.hrefs()
        depth = max(p.count("/") for p in site.file_paths())
        assert depth >= 7  # /victim/NAME/files/hr/2023/q4/palkat.bin
        assert all(r.status_code == 200 for r in fetched.values()) and site.errors == []


def test_leak_archives_hold_the_dump(tmp_path: Path) -> None:
    people = make_people(5, seed=2)
    dump, older = dump_csv(people[:3]), dump_csv(people[3:])
    with LeakSite.standard(dump, nested_csv=older, tar_text="TAR 131052-308T",
                           sevenz_text="SEVEN 010101A123N") as site:
        response = get(site, site.layout["zip"])
        assert response.headers["Content-Type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
            assert zf.read("export/asiakkaat.csv").decode() == dump
            with zipfile.ZipFile(io.BytesIO(zf.read("export/vanhat/2019.zip"))) as inner:
                assert inner.read("asiakkaat_2019.csv").decode() == older
        tar = get(site, site.layout["tar"]).content
        assert "Content-Encoding" not in get(site, site.layout["tar"]).headers
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(tar))) as tf:
            assert tf.extractfile("backup/notes.txt").read() == b"TAR 131052-308T"
        with py7zr.SevenZipFile(io.BytesIO(get(site, site.layout["7z"]).content)) as archive:
            archive.extractall(path=tmp_path)
        assert (tmp_path / "notes.txt").read_bytes() == b"SEVEN 010101A123N"
    # the same seed builds the same zip, byte for byte
    with LeakSite.standard(dump, nested_csv=older) as again:
        assert get(again, again.layout["zip"]).content == response.content


def test_leak_cp1252_junk_and_directories() -> None:
    with LeakSite.standard("x\n", cp1252_text="Hämäläinen “lainaus” 5 €\n") as site:
        text = get(site, site.layout["cp1252"])
        assert text.headers["Content-Type"] == "text/plain"  # no charset: find it out
        with pytest.raises(UnicodeDecodeError):
            text.content.decode("utf-8")
        assert "Hämäläinen “lainaus” 5 €" in text.content.decode("cp1252")
        junk = get(site, site.layout["junk"])
        assert junk.headers["Content-Type"] == "application/octet-stream"
        assert len(junk.content) == 48 * 1024 and b"\0" in junk.content

        moved = get(site, "/victim/acme-terapia/files/hr")
        assert moved.status_code == 301
        assert moved.headers["Location"] == "/victim/acme-terapia/files/hr/"
        listing = get(site, "/victim/acme-terapia/files/hr/2023/")
        assert listing.status_code == 200 and "Index of" in listing.text
        assert Links(listing.text).hrefs() == ["../", "q4/"]
        assert get(site, "/victim/acme-terapia/files/nothing.txt").status_code == 404
        assert get(site, "/victim/nobody/").status_code == 404


def test_leak_big_file_is_streamed_with_head_and_tail() -> None:
    with LeakSite.standard("x\n", big_size=3_000_000, big_head="HEAD 131052-308T\n",
                           big_tail="\nTAIL 010101A123N\n") as site:
        big = get(site, site.layout["big"])
        assert len(big.content) == 3_000_000 == int(big.headers["Content-Length"])
        assert big.content.startswith(b"HEAD 131052-308T\n")
        assert big.content.endswith(b"\nTAIL 010101A123N\n")
        assert b"@" not in big.content  # the filler holds no contact details

    huge = 50 * 1024**3  # never held in memory: only what is read is generated
    with LeakSite() as site:
        site.add_big_file("/huge.sql", huge, tail=b"END")
        head = requests.head(site.url("/huge.sql"), timeout=5)
        assert head.headers["Content-Length"] == str(huge)
        with requests.get(site.url("/huge.sql"), stream=True, timeout=5) as response:
            first = response.raw.read(200_000)  # a crawler truncating at its limit
        assert len(first) == 200_000
        assert get(site, "/").status_code == 200 and site.errors == []


def test_leak_add_page_and_file_while_running() -> None:
    with LeakSite() as site:
        site.add_victim("late", "Late Oy")
        assert Links(get(site, "/").text).hrefs("/victim/") == ["/victim/late/"]
        assert get(site, "/victim/late").status_code == 301
        site.add_file("/victim/late/files/a.csv", b"a;b\n", "text/csv")
        site.add_page("/victim/late/notice.html", "<html><body>pay</body></html>")
        victim = Links(get(site, "/victim/late/").text)
        assert victim.hrefs("files/") == ["files/a.csv"]
        assert get(site, "/victim/late/files/a.csv").content == b"a;b\n"
        assert get(site, "/victim/late/notice.html").text.endswith("pay</body></html>")


# -- planted content -------------------------------------------------------------


ENROLLED = make_people(30, seed=1)
DECOYS = make_people(12, seed=4242)


def detected(text: str) -> dict[str, set[str]]:
    """Canonical values vahti's detectors find in `text`, by type."""
    norm = normalize(text).text
    return {t: {c for _s, _e, c in get_detector(t).find(norm)} for t in ("hetu", "email", "phone")}


def canonical(person, id_type: str) -> str:
    value = {"hetu": person.hetu, "email": person.email, "phone": person.phone}[id_type]
    return get_detector(id_type).canonical(value)


def words(text: str) -> str:
    return " ".join(text.split())


def assert_records_match(planted: list[Planted], people, decoys) -> None:
    """Recorded means present (spelled as planted, found by vahti's detectors),
    and present means recorded."""
    spellings = {"hetu": hetu_spellings, "email": email_spellings, "phone": phone_spellings}
    values = {(p.ref, t): canonical(p, t) for p in people for t in spellings}
    excerpts = {p.ref: [" ".join(p.notes[0].split()[i:i + 40])
                        for i in range(len(p.notes[0].split()) - 39)] for p in people}
    for item in planted:
        found = detected(item.text)
        flat = words(item.text)
        for id_type, refs in item.refs_by_type.items():
            for person in people:
                if person.ref in refs:
                    assert any(s in item.text for s in spellings[id_type](
                        getattr(person, id_type))), (person.ref, id_type)
                    assert values[person.ref, id_type] in found[id_type], (person.ref, id_type)
                else:
                    assert values[person.ref, id_type] not in found[id_type], person.ref
        for person in people:
            here = any(e in flat for e in excerpts[person.ref])
            assert here == (person.ref in item.fragment_refs), person.ref
    assert Planted.union(planted).refs == {p.ref for p in people}
    # decoys are in the texts too, just not recorded
    decoy_values = {canonical(d, "hetu") for d in decoys}
    assert decoy_values & set().union(*(detected(p.text)["hetu"] for p in planted))


def test_plant_paste_texts_records_who_is_where() -> None:
    planted = plant_paste_texts(ENROLLED, DECOYS, random.Random(7))
    assert len(planted) == 10
    assert_records_match(planted, ENROLLED, DECOYS)
    types = Planted.union(planted).refs_by_type
    assert all(types[t] for t in ("hetu", "email", "phone"))
    assert Planted.union(planted).fragment_refs
    again = plant_paste_texts(ENROLLED, DECOYS, random.Random(7))
    assert [p.text for p in again] == [p.text for p in planted]  # deterministic


def test_plant_forum_threads_records_who_is_where() -> None:
    threads = plant_forum_threads(ENROLLED, DECOYS, random.Random(8), threads=3, posts=(5, 25))
    assert len(threads) == 3 and all(5 <= len(t.posts) <= 25 for t in threads)
    assert all(t.title.startswith("[LEAK]") for t in threads)
    assert_records_match([p for t in threads for p in t.posts], ENROLLED, DECOYS)
    with ForumSite() as forum:  # the texts go straight into a forum
        forum.add_board("leaks", "Leaks")
        tid = forum.add_thread("leaks", threads[0].title, threads[0].texts)
        assert len(forum.thread(tid).posts) == len(threads[0].posts)


def test_dump_csv_and_its_record() -> None:
    people = ENROLLED[:8]
    planted = plant_dump_csv(people, DECOYS[:4], random.Random(9))
    rows = list(csv.reader(io.StringIO(planted.text), delimiter=";"))
    assert rows[0] == ["nimi", "hetu", "email", "puhelin", "muistiinpano"]
    assert len(rows) == 1 + 8 + 4 and all(len(r) == 5 for r in rows)
    assert {r[1] for r in rows[1:]} >= {p.hetu for p in people}
    assert all(len(r[4].split()) == 40 for r in rows[1:])
    for id_type in ("hetu", "email", "phone"):
        assert planted.refs_by_type[id_type] == {p.ref for p in people}
        assert {canonical(p, id_type) for p in people} <= detected(planted.text)[id_type]
    assert planted.fragment_refs == {p.ref for p in people}
    assert dump_csv(people) == dump_csv(people)  # deterministic without an rng too
