"""The item pipeline: response bytes -> matchers -> storage, and the text is gone.

For each `PageItem`:
- a 304 answer or bytes already scanned against the current watchlist are not
  scanned again (a mirror of known bytes gets the known page's sightings);
- otherwise the bytes go through the matchers' decoding and archive handling
  (`matchers.scanfiles.scan_blob`), and the findings become sightings; the
  keyed candidates of every identifier on the page, enrolled or not, and its
  fingerprints are retained for retro-hunts (`storage.candidates`);
- URLs and member locations are stored in their redacted form
  (`CrawlServices.stored_url`): an identifier in a URL becomes a keyed token;
- the bytes are named by their keyed content id (`matchers.contentid`), never by a
  plain hash: a small or templated page's plain SHA-256 gives its identifier back;
  the server's ETag, often such a hash, is stored sealed (`matchers.sealed`);
- candidates, then sightings are stored before the page record, so a page marked as seen
  always has its sightings: a crawl killed in between rescans that page on the
  rerun, and the occurrence index keeps the sightings from doubling. Writes are
  batched (at most `FLUSH_PAGES` pages or `FLUSH_SECONDS`), in that order.

Scanning and database writes run on one worker thread, off the reactor, in
item order. The item's body is dropped when the item leaves the pipeline.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter

from scrapy.exceptions import DropItem
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from vahti.matchers.archives import ArchiveLimits
from vahti.matchers.engine import Finding, Scanned, Skipped
from vahti.matchers.scanfiles import scan_blob
from vahti.matchers.skips import reason_kind, skip_reason
from vahti.spiders.items import PageItem
from vahti.spiders.services import CrawlServices
from vahti.storage import candidates, pages, sightings
from vahti.storage.candidates import CandidateSet
from vahti.storage.pages import PageRecord
from vahti.storage.sightings import Sighting

log = logging.getLogger(__name__)

# Pending page records are written at least this often: a bulk write per page
# cost more than the scan (SecantusDB, journaled writes: ~15 ms a page).
FLUSH_PAGES = 100
FLUSH_SECONDS = 1.0


def content_type_allowed(content_type: str, source) -> bool:  # noqa: ANN001
    """A response without a Content-Type is judged by its bytes (the scan's decoder)."""
    return not content_type.strip() or source.accepts_content_type(content_type)


class ScanPipeline:
    def __init__(self, crawler):  # noqa: ANN001
        self.crawler = crawler
        self._pool = ThreadPool(1, 1, "vahti-scan")
        # the scan thread's pending writes (one bulk write per flush, not per page)
        self._sightings: list[Sighting] = []
        self._candidates: list[CandidateSet] = []
        self._records: list[PageRecord] = []
        self._pending_since = 0.0

    @classmethod
    def from_crawler(cls, crawler):  # noqa: ANN001, ANN206
        return cls(crawler)

    @property
    def services(self) -> CrawlServices:
        return self.crawler.vahti

    def open_spider(self) -> None:
        from twisted.internet import reactor  # the one Scrapy installed

        self._pool.start()
        # an unclean shutdown (a second SIGTERM) skips close_spider: the pool's
        # threads would then keep the process alive
        reactor.addSystemEventTrigger("during", "shutdown", self._stop_pool)

    def _stop_pool(self) -> None:
        if not self._pool.joined:  # stopping twice raises in Twisted
            self._pool.stop()

    async def close_spider(self) -> None:
        from twisted.internet import reactor  # the one Scrapy installed

        try:
            await maybe_deferred_to_future(deferToThreadPool(reactor, self._pool, self._flush))
        finally:
            self._stop_pool()

    async def process_item(self, item: PageItem) -> PageItem:
        if not isinstance(item, PageItem):
            raise DropItem("not a page")
        from twisted.internet import reactor  # the one Scrapy installed

        d = deferToThreadPool(reactor, self._pool, self._process, item)
        try:
            await maybe_deferred_to_future(d)
        finally:
            item.body = b""  # the text goes no further than this
        return item

    # -- on the worker thread ---------------------------------------------------------

    def _process(self, item: PageItem) -> None:
        started = time.perf_counter()
        try:
            self._scan_and_store(item)
            if (len(self._records) >= FLUSH_PAGES
                    or started - self._pending_since >= FLUSH_SECONDS):
                self._flush()
        finally:
            with self.services.tally.lock:
                self.services.tally.pipeline_s += time.perf_counter() - started

    def _store(self, found: list[Sighting], records: list[PageRecord],
               kept: CandidateSet | None = None) -> None:
        """Queue one page's sightings, records and retained candidates for the next bulk write."""
        if not self._records:
            self._pending_since = time.perf_counter()
        self._sightings += found
        self._records += records
        if kept is not None:
            self._candidates.append(kept)

    def _flush(self) -> None:
        """Sightings first, then the page records that say they were seen: a crawl
        killed before this point fetches those pages again (they are not final yet)."""
        storage = self.services.storage
        if not self._records or storage is None:
            return
        candidates.store(storage, self._candidates)
        new = sightings.record_sightings(storage, self._sightings)
        pages.upsert_pages(storage, self._records)
        self._sightings, self._records, self._candidates = [], [], []
        with self.services.tally.lock:
            self.services.tally.new_sightings += len(new)

    def _scan_and_store(self, item: PageItem) -> None:
        services = self.services
        storage = services.storage
        tally = services.tally
        assert storage is not None and services.scanner is not None
        assert services.validators is not None
        url = services.stored_url(item.url)
        if item.not_modified:
            pages.touch(storage, url)
            with tally.lock:
                tally.not_modified += 1
            return
        body = item.body
        limit = item.limit or services.max_page_bytes
        if limit and len(body) > limit:
            body = body[:limit]
            item.truncated = True
        content_id = services.scanner.content_ids.of_digest(hashlib.sha256(body).digest())
        version = services.watchlist_version
        with tally.lock:
            tally.pages += 1
            tally.bytes += len(body)
            tally.truncated += item.truncated
        status = "truncated" if item.truncated else "ok"
        record = PageRecord(url=url, source=item.source, content_id=content_id, size=len(body),
                            status=status, watchlist_version=version,
                            http_status=item.http_status, content_type=item.content_type,
                            etag=services.validators.seal(item.etag),
                            last_modified=item.last_modified,
                            final=item.final and not item.truncated,
                            max_item=item.max_item)
        if not content_type_allowed(item.content_type, services.source):
            record.status = "skipped:content-type"
            tally.error("content_type")
            self._store([], [record])
            return
        known = pages.scanned_copy(storage, content_id, version)
        if known is not None:
            self._reuse(item, record, known)
            return
        kept = CandidateSet(content_id)
        found, members = self._scan(item.url, body, record, kept)
        record.hit_counts = dict(Counter(f.id_type for f in found))
        item.found = record.hit_counts
        self._store([
            Sighting(page_url=services.stored_url(f.location), source=item.source, ref=f.ref,
                     id_type=f.id_type, kind=f.kind, start=f.start, end=f.end, score=f.score,
                     page_content_id=content_id)
            for f in found
        ], members + [record], kept)
        with tally.lock:
            tally.hits += len(found)
        if found:
            log.info("%s: %d hits of %d people", url, len(found), len({f.ref for f in found}))

    def _scan(self, url: str, body: bytes, record: PageRecord,
              kept: CandidateSet) -> tuple[list[Finding], list[PageRecord]]:
        """Findings and the records of archive members (the page itself is `record`);
        the retained candidates of the page and all its members go to `kept`."""
        services = self.services
        limits = ArchiveLimits(max_member_size=max(services.max_page_bytes, 64 << 20),
                               max_members=services.cfg.get("scan.max_members"),
                               document_timeout_s=services.cfg.get("scan.document_timeout_s"))
        found: list[Finding] = []
        members: list[PageRecord] = []
        read = 0
        for event in scan_blob(services.scanner, body, url, limits):
            reason = skip_reason(event)
            if reason is not None:
                self._count_skipped(reason_kind(reason))
            elif isinstance(event, Scanned):
                read += 1
            if isinstance(event, Finding):
                found.append(event)
            elif isinstance(event, Skipped):
                kind = reason_kind(event.reason)
                if event.location == url:
                    # a limit hit after some members were read leaves the page partial
                    record.status = f"{'partial' if read else 'skipped'}:{kind}"
                else:
                    members.append(PageRecord(url=services.stored_url(event.location),
                                              source=record.source,
                                              content_id="", size=0,
                                              status=f"skipped:{kind}",
                                              watchlist_version=record.watchlist_version))
            elif isinstance(event, Scanned):
                kept.add(event.retained, event.partial)
                if event.location == url:
                    if event.status != "ok" and record.status == "ok":
                        record.status = event.status  # binary, empty
                else:
                    member_hits = Counter(f.id_type for f in found if f.location == event.location)
                    members.append(PageRecord(
                        url=services.stored_url(event.location), source=record.source,
                        content_id=event.content_id, size=event.size, status=event.status,
                        hit_counts=dict(member_hits),
                        watchlist_version=record.watchlist_version, final=record.final))
        with services.tally.lock:
            services.tally.read += read
        return found, members

    def _count_skipped(self, kind: str) -> None:
        """A page or member not read: an error of the run, and a skip by reason."""
        tally = self.services.tally
        tally.error(kind)
        with tally.lock:
            tally.skipped[kind] = tally.skipped.get(kind, 0) + 1

    def _reuse(self, item: PageItem, record: PageRecord, known: dict) -> None:
        """Same bytes as a page already scanned with this watchlist: no scan."""
        storage = self.services.storage
        tally = self.services.tally
        with tally.lock:
            tally.skipped_same_bytes += 1
        record.hit_counts = dict(known.get("hit_counts") or {})
        record.status = known.get("status", record.status)
        item.found = record.hit_counts
        if known["url"] != record.url and record.hit_counts:
            # a copy elsewhere: the people on it are seen here too (a member's stored
            # location is its page's stored URL, "!", and its stored member name)
            copied = [
                Sighting(page_url=record.url + s.page_url[len(known["url"]):], source=item.source,
                         ref=s.ref, id_type=s.id_type, kind=s.kind, start=s.start, end=s.end,
                         score=s.score, page_content_id=record.content_id)
                for s in sightings.of_page(storage, known["url"])
            ]
            with tally.lock:
                tally.hits += len(copied)
            self._store(copied, [record])
            return
        self._store([], [record])
