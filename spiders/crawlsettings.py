"""Per-source Scrapy settings: concurrency, delay, Tor route, limits."""

from __future__ import annotations

from typing import Any

from vahti.config import Config
from vahti.spiders.sources import Source


def source_settings(source: Source, cfg: Config) -> dict[str, Any]:
    concurrency = int(source.concurrency or cfg.get("crawl.concurrency"))
    if source.kind == "forum" and source.concurrency is None:
        # one session is one sequence of requests: a logged-out answer to a parallel
        # request clears the session cookie the others are using
        concurrency = 1
    delay = source.delay_s if source.delay_s is not None else cfg.get("crawl.delay_s")
    settings: dict[str, Any] = {
        "VAHTI_HOME": str(cfg.home),
        "VAHTI_SOURCE": source.name,
        "VAHTI_DIRECT": bool(source.direct),
        "VAHTI_TOR_ISOLATION": source.isolation_group,
        "VAHTI_NEWNYM_AFTER": int(cfg.get("tor.newnym_after")),
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "DOWNLOAD_DELAY": float(delay),
        "DOWNLOAD_TIMEOUT": float(cfg.get("crawl.download_timeout_s")),
        "RETRY_TIMES": int(cfg.get("crawl.retries")),
        "USER_AGENT": cfg.get("crawl.user_agent"),
    }
    if source.kind == "site":
        settings["DEPTH_LIMIT"] = int(source.option("depth")) + 1
    if cfg.get("tor.socks"):
        settings["VAHTI_TOR_SOCKS"] = cfg.get("tor.socks")
    return settings
