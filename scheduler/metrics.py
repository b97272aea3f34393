"""Prometheus metrics of `vahti daemon` ([metrics] listen; off unless set).

Two kinds of figures:
- **Events this daemon saw** (counters, since it started): crawls by source and
  result, pages and bytes fetched, time spent scanning, new sightings, alerts raised,
  deliveries by channel and result. Crawls run in child processes; each child writes
  its figures into its run record (storage/runs.py), and the daemon adds that record
  to its counters when it sees the crawl end: no IPC, nothing counted twice. With
  several daemons on one database each exports its own crawls (sum them).
- **What the database holds** (gauges, computed on a scrape by `StoredFigures`, at
  most every `[metrics] cache_s`): last run and last success per source, the outbox
  backlog by channel and state, and tor's state. These survive restarts and are the
  same from every daemon (do not sum them). See storage/figures.py for why each
  refresh costs a few small queries whatever the size of the database.

Labels are bounded and never carry an identifier or a URL: `source` is a source name
from sources.toml (checked against the source name pattern), `channel` a channel name
from config.toml (same pattern), `result`/`state`/`kind` come from fixed sets;
anything else becomes "other".
"""

from __future__ import annotations

import ipaddress
import logging
import platform
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Info,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from vahti import __version__
from vahti.errors import VahtiError
from vahti.spiders.sources import NAME_RE as LABEL_RE  # labels: source and channel names
from vahti.spiders.sources import SourcesError, read_sources, sources_path
from vahti.spiders.torctl import tor_status
from vahti.storage import figures

log = logging.getLogger("vahti.metrics")

OTHER = "other"
RESULTS = ("done", "failed", "killed", "interrupted", "unknown")
DELIVERY_RESULTS = ("sent", "retrying", "dead")
ALERT_KINDS = ("sighting", "health")
SIGHTING_VIA = ("crawl", "retro_hunt")
TOR_CACHE_S = 15.0  # tor's control port is asked at most this often
TOR_TIMEOUT_S = 2.0


def label(value: object, allowed: Iterable[str] | None = None) -> str:
    """A label value: one of `allowed`, or a name of the config-name pattern; else "other"."""
    text = str(value or "")
    if allowed is not None:
        return text if text in allowed else OTHER
    return text if LABEL_RE.fullmatch(text) else OTHER


# -- settings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricsSettings:
    host: str
    port: int
    cache_s: float = 5.0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    @classmethod
    def from_config(cls, cfg: Any) -> MetricsSettings | None:
        """None when metrics are off; VahtiError (one line) for a bad or public address."""
        listen = str(cfg.get("metrics.listen") or "").strip()
        if not listen:
            return None
        host, port = parse_listen(listen)
        if not is_loopback(host) and not cfg.get("metrics.allow_remote"):
            raise VahtiError(f"metrics.listen {listen} is not a loopback address: metrics "
                             "stay on this host unless [metrics] allow_remote = true")
        return cls(host, port, max(float(cfg.get("metrics.cache_s")), 0.0))


def parse_listen(text: str) -> tuple[str, int]:
    """"127.0.0.1:9464", "[::1]:9464", "localhost:9464" -> (host, port)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise VahtiError(f"metrics.listen {text!r} is not HOST:PORT (e.g. 127.0.0.1:9464)")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


# -- figures from the database ------------------------------------------------------------


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


class StoredFigures(Collector):
    """Gauges computed from the database and tor on a scrape, cached `cache_s`."""

    def __init__(self, storage: Any, cfg: Any, cache_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.storage = storage
        self.cfg = cfg
        self.cache_s = cache_s
        self.clock = clock
        self._lock = threading.Lock()  # one refresh at a time; others get its result
        self._families: list[GaugeMetricFamily] = []
        self._at = float("-inf")
        self._tor: list[GaugeMetricFamily] = []
        self._tor_at = float("-inf")
        self._seen: dict[str, figures.SourceTimes] = {}  # source -> its times, once seeded

    def describe(self) -> list:
        return []  # registering must not query the database

    def collect(self) -> list[GaugeMetricFamily]:
        with self._lock:
            now = self.clock()
            if now - self._at >= self.cache_s:
                self._families = self._database()
                self._at = self.clock()
            if now - self._tor_at >= max(self.cache_s, TOR_CACHE_S):
                self._tor = self._tor_figures()
                self._tor_at = self.clock()
            return self._families + self._tor

    def _sources(self) -> list[str]:
        try:
            names = read_sources(sources_path(self.cfg.home)).sources
        except SourcesError:
            return []
        return sorted(n for n in names if label(n) != OTHER)

    def _times(self, sources: list[str]) -> dict[str, figures.SourceTimes]:
        """From the job leases; a source whose lease does not tell its last success (its
        last crawl failed, or no daemon ran it yet) is seeded once from its runs."""
        ends = figures.job_ends(self.storage)
        for name in sources:
            if name not in self._seen:
                lease = ends.get(name)
                self._seen[name] = (figures.SourceTimes()
                                    if lease is not None and lease.last_success is not None
                                    else figures.latest_runs(self.storage, name))
            if name in ends:
                self._seen[name] = self._seen[name].merged(ends[name])
        return {name: self._seen[name] for name in sources}

    def _database(self) -> list[GaugeMetricFamily]:
        started = time.perf_counter()
        up = _gauge("vahti_database_up", "1 when the last refresh could read the database")
        took = _gauge("vahti_metrics_refresh_seconds",
                      "Time the last refresh of the database figures took")
        out: list[GaugeMetricFamily] = []
        try:
            last_run = _gauge("vahti_source_last_run_timestamp_seconds",
                              "End of the latest crawl of the source (Unix time)", ("source",))
            last_ok = _gauge("vahti_source_last_success_timestamp_seconds",
                             "End of the latest successful crawl of the source (Unix time)",
                             ("source",))
            for name, times in self._times(self._sources()).items():
                if times.last_run is not None:
                    last_run.add_metric([name], figures.unix(times.last_run))
                if times.last_success is not None:
                    last_ok.add_metric([name], figures.unix(times.last_success))
            backlog = _gauge("vahti_outbox_backlog",
                             "Alert deliveries not delivered yet (pending, sending) or given "
                             "up (dead), by channel and state", ("channel", "state"))
            grouped: dict[tuple[str, str], int] = {}
            for (channel, state), n in figures.outbox_backlog(self.storage).items():
                key = (label(channel), label(state, figures.BACKLOG_STATES))
                grouped[key] = grouped.get(key, 0) + n
            for key, n in sorted(grouped.items()):
                backlog.add_metric(list(key), n)
            out = [last_run, last_ok, backlog]
            up.add_metric([], 1)
        except Exception as exc:  # noqa: BLE001 - a scrape reports the failure, never crashes
            log.warning("metrics: database figures not read (%s)", type(exc).__name__)
            up.add_metric([], 0)
        took.add_metric([], time.perf_counter() - started)
        return [*out, up, took]

    def _tor_figures(self) -> list[GaugeMetricFamily]:
        from vahti.wiring import tor_settings

        ready = _gauge("vahti_tor_ready", "1 when tor is bootstrapped with a circuit")
        running = _gauge("vahti_tor_reachable", "1 when tor's control or SOCKS port answers")
        percent = _gauge("vahti_tor_bootstrap_percent", "tor's bootstrap progress (0-100)")
        try:
            info = tor_status(tor_settings(self.cfg), timeout_s=TOR_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - a misconfigured [tor]: not ready
            info = {}
        ready.add_metric([], 1 if info.get("ready") else 0)
        running.add_metric([], 1 if info.get("reachable") else 0)
        boot = info.get("bootstrap") or {}
        percent.add_metric([], float(boot.get("progress") or (100 if info.get("ready") else 0)))
        return [ready, running, percent]


# -- events this daemon saw ----------------------------------------------------------------


class DaemonMetrics:
    """The daemon's registry: its counters, build info and `StoredFigures`."""

    def __init__(self, storage: Any, cfg: Any, cache_s: float = 5.0) -> None:
        disable_created_metrics()  # no *_created series: counters start with the daemon
        self.registry = r = CollectorRegistry(auto_describe=False)
        self.crawls = Counter("vahti_crawls", "Crawls this daemon ran, by source and result",
                              ["source", "result"], registry=r)
        self.pages = Counter("vahti_crawl_pages", "Pages crawls fetched and scanned",
                             ["source"], registry=r)
        self.bytes = Counter("vahti_crawl_fetched_bytes", "Bytes of the pages crawls fetched",
                             ["source"], registry=r)
        self.scan_seconds = Counter("vahti_crawl_scan_seconds",
                                    "Time crawls spent scanning and storing pages",
                                    ["source"], registry=r)
        self.throughput = Gauge("vahti_crawl_scan_mb_per_second",
                                "Scan throughput of the source's latest crawl (MB/s)",
                                ["source"], registry=r)
        self.sightings = Counter("vahti_sightings_new",
                                 "New sightings stored by crawls and retro-hunts", ["via"],
                                 registry=r)
        self.alerts = Counter("vahti_alerts_raised", "Alerts raised, by kind", ["kind"],
                              registry=r)
        self.deliveries = Counter("vahti_deliveries",
                                  "Alert delivery attempts, by channel and result",
                                  ["channel", "result"], registry=r)
        Info("vahti_build", "vahti's version", registry=r).info(
            {"version": __version__, "python": platform.python_version()})
        Gauge("vahti_daemon_start_time_seconds", "When this daemon started (Unix time)",
              registry=r).set_to_current_time()
        for via in SIGHTING_VIA:
            self.sightings.labels(via)
        for kind in ALERT_KINDS:
            self.alerts.labels(kind)
        self.stored = StoredFigures(storage, cfg, cache_s)
        r.register(self.stored)
        self._server: Any = None

    def crawl_ended(self, source: str, result: str, run: dict | None) -> None:
        """A crawl's end, with the figures its run record holds."""
        run = run or {}
        name = label(source)
        self.crawls.labels(name, label(result, RESULTS)).inc()
        pages, size = int(run.get("pages") or 0), int(run.get("bytes") or 0)
        seconds = float(run.get("pipeline_s") or 0.0)
        self.pages.labels(name).inc(pages)
        self.bytes.labels(name).inc(size)
        self.scan_seconds.labels(name).inc(seconds)
        if size and seconds > 0:
            self.throughput.labels(name).set(size / seconds / 1e6)
        self.sightings.labels("crawl").inc(int(run.get("new_sightings") or 0))

    def retro_hunted(self, result: Any) -> None:
        if result is not None:
            self.sightings.labels("retro_hunt").inc(len(result.new))

    def alerts_raised(self, raised: list | None) -> None:
        self.alerts.labels("sighting").inc(len(raised or ()))

    def health_alerts(self, checked: list | None) -> None:
        self.alerts.labels("health").inc(sum(1 for _, raised in checked or () if raised))

    def delivered(self, report: Any) -> None:
        for channel, results in getattr(report, "by_channel", {}).items():
            for result, n in results.items():
                self.deliveries.labels(label(channel), label(result, DELIVERY_RESULTS)).inc(n)

    # -- the HTTP endpoint ------------------------------------------------------------------

    def serve(self, settings: MetricsSettings) -> None:
        try:
            self._server, _ = start_http_server(settings.port, settings.host,
                                                registry=self.registry)
        except OSError as exc:
            reason = (exc.strerror or type(exc).__name__).lower()
            raise VahtiError(f"metrics: cannot listen on {settings.host}:{settings.port} "
                             f"({reason})") from None
        log.info("metrics at %s", settings.url)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class NoMetrics:
    """What the hooks call when metrics are off."""

    def crawl_ended(self, *args: Any) -> None:
        pass

    retro_hunted = alerts_raised = health_alerts = delivered = crawl_ended


NO_METRICS = NoMetrics()
