"""Scrapy's log messages without items or response bodies.

Scrapy logs every scraped item at DEBUG ("Scraped from <200 url>" plus the
item) and dropped items at WARNING; our items carry page bytes, so those
messages are reduced to the URL and never include the item.
"""

from __future__ import annotations

import logging

from scrapy import logformatter


class QuietLogFormatter(logformatter.LogFormatter):
    def scraped(self, item, response, spider):  # noqa: ANN001, ANN201
        return None  # the pipeline logs what it found, as counts

    def dropped(self, item, exception, response, spider):  # noqa: ANN001, ANN201
        return {"level": logging.INFO, "msg": "page dropped: %(reason)s",
                "args": {"reason": type(exception).__name__}}

    def item_error(self, item, exception, response, spider):  # noqa: ANN001, ANN201
        return {"level": logging.ERROR, "msg": "error processing page %(url)s",
                "args": {"url": getattr(item, "url", "?")}}
