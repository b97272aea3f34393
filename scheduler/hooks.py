"""What the daemon does besides crawling, after each job and every
`[daemon] deliver_every_s`: retro-hunt when the watchlist has changed (new
people against the candidates retained from pages seen before), raise alerts
for new sightings, raise health alerts
for sources that fail or went quiet, and deliver the outbox.

Every pass is idempotent, so an error is logged and the next pass retries; a
failed pass never stops the daemon.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from vahti import retrohunt
from vahti.scheduler import alerting, delivery, health
from vahti.scheduler.metrics import NO_METRICS
from vahti.spiders.sources import SourcesError, load_sources, sources_path
from vahti.storage.clock import now
from vahti.storage.retention import purge_if_due
from vahti.watchlist_cache import load_index
from vahti.wiring import load_key, retention_settings

log = logging.getLogger("vahti.daemon")

# After-job and periodic passes run on different scheduler threads. Two raise passes
# at once would each group the sightings they read into an alert per page, and a
# sighting stored between their reads makes the keys differ: overlapping alerts for
# one page (seen in the demo). One pass at a time in a daemon.
_one_pass_at_a_time = threading.Lock()


def _guarded(what: str, func, *args: Any) -> Any:  # noqa: ANN001
    try:
        return func(*args)
    except Exception as exc:  # noqa: BLE001 - a failed pass must not stop the daemon
        log.warning("%s failed (%s); retried on the next pass", what, type(exc).__name__,
                    exc_info=True)
        return None


def retro_hunt_if_due(storage: Any, cfg: Any) -> Any:
    def run() -> Any:
        if not retrohunt.due(storage):
            return None
        key = load_key(cfg)
        result = retrohunt.retro_hunt(storage, load_index(storage, key, cfg.home), cfg.home)
        log.info("retro-hunt after a watchlist change: %d new sightings of %d people",
                 len(result.new), len(result.people))
        return result

    return _guarded("retro-hunt", run)


def raise_alerts(storage: Any, cfg: Any) -> Any:
    return _guarded("raising alerts", alerting.raise_sighting_alerts, storage,
                    cfg.tables.get("channels", {}))


def raise_health_alerts(storage: Any, cfg: Any) -> Any:
    try:
        sources = load_sources(sources_path(cfg.home))
    except SourcesError as exc:
        log.warning("source health not checked: %s", exc)
        return None
    return _guarded("source health", lambda: health.raise_health_alerts(
        storage, cfg, sources, now(), fail_after=health.fail_after_setting(cfg)))


def deliver(storage: Any, cfg: Any) -> Any:
    return _guarded("alert delivery", delivery.deliver_due, storage, cfg)


def after_job(storage: Any, cfg: Any, source_name: str, metrics: Any = None) -> None:
    """After a crawl of `source_name`: alerts for what it found, health, then delivery.
    `metrics`: the daemon's (scheduler.metrics.DaemonMetrics) counts what each pass did."""
    seen = metrics or NO_METRICS
    with _one_pass_at_a_time:
        seen.retro_hunted(retro_hunt_if_due(storage, cfg))
        raised = raise_alerts(storage, cfg)
        seen.alerts_raised(raised)
        if raised:
            log.info("after the crawl of %s: %d alerts raised", source_name, len(raised))
        seen.health_alerts(raise_health_alerts(storage, cfg))
        seen.delivered(deliver(storage, cfg))


def periodic(storage: Any, cfg: Any, metrics: Any = None) -> None:
    """Alerts for sightings of crawls and scans run outside the daemon, health, and
    deliveries that are due (retries included); the hourly retention purge."""
    seen = metrics or NO_METRICS
    with _one_pass_at_a_time:
        _guarded("retention purge", purge_if_due, storage, retention_settings(cfg))
        seen.retro_hunted(retro_hunt_if_due(storage, cfg))
        seen.alerts_raised(raise_alerts(storage, cfg))
        seen.health_alerts(raise_health_alerts(storage, cfg))
        seen.delivered(deliver(storage, cfg))
