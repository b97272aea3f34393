"""`scrapy crawl NAME` as Scrapy's own command, with vahti's exit codes.

Exit 2 when the crawl could not run as it must (Tor unusable: fail closed,
a refused login) or no request of it was answered, so `scrapy crawl` and
`vahti crawl` agree.
"""

from __future__ import annotations

from scrapy.commands.crawl import Command as ScrapyCrawl

FAILED_REASONS = {"tor_unavailable", "login_failed", "no_credentials"}


class Command(ScrapyCrawl):
    def run(self, args, opts) -> None:  # noqa: ANN001
        crawlers = []
        original = self._create_crawler

        def create(name):  # noqa: ANN001, ANN202
            crawler = original(name)
            crawlers.append(crawler)
            return crawler

        self._create_crawler = create
        super().run(args, opts)
        for crawler in crawlers:
            reason = crawler.stats.get_value("finish_reason") if crawler.stats else None
            services = getattr(crawler, "vahti", None)
            if reason in FAILED_REASONS or getattr(services, "failure", ""):
                self.exitcode = 2
