"""What the daemon does besides crawling, after each job and every
`[daemon] deliver_every_s`: raise alerts for new sightings, raise health alerts
for sources that fail or went quiet, and deliver the outbox.

Every pass is idempotent, so an error is logged and the next pass retries; a
failed pass never stops the daemon.
"""

from __future__ import annotations

import logging
from typing import Any

from scheduler import alerting, delivery, health
from spiders.sources import SourcesError, load_sources, sources_path
from storage.clock import now

log = logging.getLogger("vahti.daemon")


def _guarded(what: str, func, *args: Any) -> Any:  # noqa: ANN001
    try:
        return func(*args)
    except Exception as exc:  # noqa: BLE001 - a failed pass must not stop the daemon
        log.warning("%s failed (%s); retried on the next pass", what, type(exc).__name__,
                    exc_info=True)
        return None


def raise_alerts(storage: Any, cfg: Any) -> Any:
    return _guarded("raising alerts", alerting.raise_sighting_alerts, storage,
                    cfg.tables.get("channels", {}))


def raise_health_alerts(storage: Any, cfg: Any) -> Any:
    try:
        sources = load_sources(sources_path(cfg.home))
    except SourcesError as exc:
        log.warning("source health not checked: %s", exc)
        return None
    return _guarded("source health", health.raise_health_alerts, storage, cfg, sources, now())


def deliver(storage: Any, cfg: Any) -> Any:
    return _guarded("alert delivery", delivery.deliver_due, storage, cfg)


def after_job(storage: Any, cfg: Any, source_name: str) -> None:
    """After a crawl of `source_name`: alerts for what it found, health, then delivery."""
    raised = raise_alerts(storage, cfg)
    if raised:
        log.info("after the crawl of %s: %d alerts raised", source_name, len(raised))
    raise_health_alerts(storage, cfg)
    deliver(storage, cfg)


def periodic(storage: Any, cfg: Any) -> None:
    """Alerts for sightings of crawls and scans run outside the daemon, health, and
    deliveries that are due (retries included)."""
    raise_alerts(storage, cfg)
    raise_health_alerts(storage, cfg)
    deliver(storage, cfg)
