"""Crawling the onion forum (login, expiring sessions, pagination) and the onion
leak site (archives, encodings, truncation, off-site links), end to end."""

from __future__ import annotations

import pytest

from tests.privacy import assert_no_plaintext, everything_written
from tests.tor.crawling import (
    Cast,
    add_source,
    assert_found_exactly,
    crawl,
    prepare,
    stored,
)
from vahti.demo.sites.content import Planted, plant_dump_csv, plant_forum_threads, plant_paste_texts
from vahti.demo.sites.forum import ForumSite
from vahti.demo.sites.leak import LeakSite, MiB

pytestmark = pytest.mark.integration

FORUM_PASSWORD = "Lumi-Kettu-7731"


def test_forum_login_sessions_pages_and_incremental(vahti, tor_network, onion_for, tmp_path):
    cast = Cast.make(seed=601)
    threads = plant_forum_threads(cast.enrolled[:16], cast.decoys, cast.rng, threads=4,
                                  posts=(4, 24))
    with ForumSite("analyst", FORUM_PASSWORD, session_requests=6, seed=601) as forum:
        forum.add_board("dumps", "Dumps")
        forum.add_board("talk", "Talk")
        ids = [forum.add_thread("dumps" if i % 2 else "talk", t.title, t.texts)
               for i, t in enumerate(threads)]
        base = onion_for(forum)
        prepare(vahti, tor_network, cast, tmp_path)
        vahti.env.update({"FORUM_USER": "analyst", "FORUM_PASS": FORUM_PASSWORD})
        add_source(vahti, "forum", "forum", base + "/",
                   "--option", f"login_url={base}/login",
                   "--option", "username_env=FORUM_USER", "--option", "password_env=FORUM_PASS")

        first = crawl(vahti, "forum", expect=(1,))
        assert first["reason"] == "finished", first
        posts = [p for t in threads for p in t.posts]
        assert first["new_items"] == len(posts)  # by post id
        assert_found_exactly(vahti, Planted.union(posts))
        assert forum.login_count >= 2 and forum.expired_sessions >= 1  # logged in again

        # one new post; full thread pages are not fetched again
        long_thread = max(ids, key=lambda i: len(forum.thread(i).posts))
        assert len(forum.thread(long_thread).posts) > forum.per_page
        new = plant_paste_texts(cast.enrolled[16:18], [], cast.rng, texts=1)[0]
        forum.add_post(long_thread, new.text)
        forum.clear()
        second = crawl(vahti, "forum", expect=(1,))
        assert second["reason"] == "finished", second
        assert f"/thread/{long_thread}" not in forum.served  # page 1 was full: final
        assert second["new_items"] == 1
        assert_found_exactly(vahti, Planted.union(posts + [new]))

    written = everything_written(vahti, tmp_path / "dump")
    assert_no_plaintext(written, cast.plaintext() + [FORUM_PASSWORD])


def test_leak_site_archives_encodings_truncation(vahti, tor_network, onion_for, tmp_path):
    cast = Cast.make(seed=701)
    e = cast.enrolled
    dump = plant_dump_csv(e[:8], cast.decoys, cast.rng)
    nested = plant_dump_csv(e[8:11], [], cast.rng)
    in_tar = plant_paste_texts(e[11:13], [], cast.rng, texts=1)[0]
    in_7z = plant_paste_texts(e[13:15], [], cast.rng, texts=1)[0]
    in_cp1252 = plant_paste_texts(e[15:17], [], cast.rng, texts=1)[0]
    head = Planted(f"-- dump of {e[17].hetu}\n", {"hetu": {e[17].ref}})
    beyond_limit = f"-- last row {e[18].hetu}\n"  # after the 1 MiB cut: must not be found
    site = LeakSite.standard(dump.text, nested_csv=nested.text, tar_text=in_tar.text,
                             sevenz_text=in_7z.text, cp1252_text=in_cp1252.text,
                             big_size=3 * MiB, big_head=head.text, big_tail=beyond_limit,
                             seed=701)
    with site:
        base = onion_for(site)
        prepare(vahti, tor_network, cast, tmp_path)
        add_source(vahti, "leaks", "site", base + site.layout["victim"],
                   "--max-page-bytes", str(1 * MiB), "--option", "depth=6")
        first = crawl(vahti, "leaks", expect=(1,))
        assert first["reason"] == "finished", first
        assert_found_exactly(vahti, Planted.union([dump, nested, in_tar, in_7z, in_cp1252,
                                                   head]))
        assert first["truncated"] == 1
        assert not [k for k in first["errors"] if k.startswith(("http_", "Socks", "TorRoute"))]
        by_url = {p["url"]: p for p in stored(vahti, "pages")}
        assert by_url[base + site.layout["big"]]["status"] == "truncated"
        # random bytes: binary, with its chance text strings read (`binary_strings`)
        assert by_url[base + site.layout["junk"]]["status"] == "strings"
        zip_url = base + site.layout["zip"]
        assert by_url[zip_url]["final"] is True
        assert any(u.startswith(zip_url + "!") and "2019.zip!" in u for u in by_url)  # nested

        site.clear()
        second = crawl(vahti, "leaks")
        assert second["reason"] == "finished"
        files = [site.layout[k] for k in ("zip", "tar", "7z", "cp1252", "junk")]
        assert not [f for f in files if f in site.served]  # files are final: not refetched

    written = everything_written(vahti, tmp_path / "dump")
    assert_no_plaintext(written, cast.plaintext())
