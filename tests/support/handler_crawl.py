"""Run a bare Scrapy crawl through `TorDownloadHandler` and print what happened.

    python -m tests.support.handler_crawl '{"urls": [...], "settings": {...}, "meta": {...}}'

A separate process because Twisted's reactor cannot be restarted. Prints one
JSON object: per URL its status and body size, or the error's type and text.
"""

from __future__ import annotations

import json
import sys

import scrapy
from scrapy.crawler import CrawlerProcess

from vahti.spiders import settings as project_settings


class BareSpider(scrapy.Spider):
    name = "bare"

    def __init__(self, urls, meta, **kwargs):  # noqa: ANN001
        super().__init__(**kwargs)
        self.urls, self.meta = urls, meta
        self.results: dict[str, dict] = {}

    async def start(self):  # noqa: ANN201
        for url in self.urls:
            yield scrapy.Request(url, callback=self.ok, errback=self.failed, meta=dict(self.meta),
                                 dont_filter=True)

    def ok(self, response):  # noqa: ANN001, ANN201
        self.results[response.request.url] = {"status": response.status,
                                              "bytes": len(response.body),
                                              "flags": response.flags}

    def failed(self, failure):  # noqa: ANN001, ANN201
        self.results[failure.request.url] = {"error": type(failure.value).__name__,
                                             "message": str(failure.value)}


def main() -> None:
    spec = json.loads(sys.argv[1])
    settings = {
        "DOWNLOAD_HANDLERS": project_settings.DOWNLOAD_HANDLERS,
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware": None},
        "RETRY_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        "TELNETCONSOLE_ENABLED": False,
        "DOWNLOAD_TIMEOUT": 10,
        **spec.get("settings", {}),
    }
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(BareSpider)
    process.crawl(crawler, urls=spec["urls"], meta=spec.get("meta", {}))
    process.start()
    print(json.dumps(crawler.spider.results))


if __name__ == "__main__":
    main()
