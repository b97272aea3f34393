"""What a spider hands to the pipeline: one fetched response, bytes and metadata.

The body is page text by another name, so it must never reach a log: `repr`
shows only its size, and `spiders.logformat` keeps Scrapy from printing items.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(repr=False)
class PageItem:
    url: str
    source: str
    http_status: int
    body: bytes = b""
    content_type: str = ""
    etag: str = ""
    last_modified: str = ""
    truncated: bool = False  # cut at the source's max page size
    not_modified: bool = False  # a 304 to a conditional GET: nothing to scan
    final: bool = False  # will not change: skip it on later runs
    kind: str = "page"  # page | listing | paste | posts | file
    max_item: int = 0  # the highest item id on the page (forum post ids)
    limit: int = 0  # the byte limit it was fetched under (0: the source's max page size)
    found: dict[str, int] = field(default_factory=dict)  # filled by the pipeline: id_type -> hits

    def __repr__(self) -> str:
        return (f"PageItem(url={self.url!r}, status={self.http_status}, "
                f"bytes={len(self.body)}, kind={self.kind!r})")

    __str__ = __repr__
