"""Realistic stand-ins for the sites vahti crawls, served on 127.0.0.1.

- `PasteSite` (paste.py): a pastebin with a paginated listing, HTML and raw
  views, ETag/Last-Modified and 304s.
- `ForumSite` (forum.py): a forum behind a login with CSRF token and expiring
  sessions, boards and threads with pagination.
- `LeakSite` (leak.py): a ransomware leak site with victims and directory trees
  of archives, big, binary and cp1252 files, and off-site links.
- content.py: texts with synthetic people planted in them, and the record of
  who was planted where.

All build on `SiteServer` (base.py): a thread, a free port, a record of every
connection and request, `block_next` and `slow_ms`. Use them as context
managers: `with PasteSite() as site: ...`.
"""

from vahti.demo.sites.base import Request, Response, SeenConnection, SeenRequest, SiteServer
from vahti.demo.sites.content import (
    Planted,
    PlantedThread,
    dump_csv,
    plant_dump_csv,
    plant_forum_threads,
    plant_paste_texts,
)
from vahti.demo.sites.forum import ForumSite
from vahti.demo.sites.leak import LeakSite
from vahti.demo.sites.paste import PasteSite

__all__ = [
    "ForumSite", "LeakSite", "PasteSite", "Planted", "PlantedThread", "Request", "Response",
    "SeenConnection", "SeenRequest", "SiteServer", "dump_csv", "plant_dump_csv",
    "plant_forum_threads", "plant_paste_texts",
]
