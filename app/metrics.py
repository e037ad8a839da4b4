"""Prometheus metrics: one registry per app (tests can build many apps in one process)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.jobs.base import JobRunner

__all__ = ["CONTENT_TYPE", "Metrics", "StateCollector", "StorageCollector"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
# Request latency buckets (seconds): predict is sub-millisecond, uploads take seconds.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

logger = logging.getLogger(__name__)


class StateCollector(Collector):
    """Reads the job runner and the model store at scrape time (nothing cached, nothing pushed)."""

    def __init__(
        self, runner: Callable[[], JobRunner | None], models: Callable[[], int | None]
    ) -> None:
        self._runner = runner
        self._models = models

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("mlp_jobs", "Training jobs by state.", labels=["state"])
        runner = self._runner()
        if runner is not None:
            try:
                counts = runner.counts()
            except Exception:
                logger.exception("could not read job counts for /metrics")
                counts = {}
            for state in JOB_STATES:
                jobs.add_metric([state], float(counts.get(state, 0)))
        yield jobs
        models = GaugeMetricFamily("mlp_models_stored", "Models in the model store.")
        try:
            stored = self._models()
        except Exception:
            logger.exception("could not count models for /metrics")
            stored = None
        if stored is not None:
            models.add_metric([], float(stored))
        yield models

    def describe(self) -> Iterator[Metric]:
        # Declared up front so registering does not call collect() (the stores may not exist yet).
        yield GaugeMetricFamily("mlp_jobs", "Training jobs by state.", labels=["state"])
        yield GaugeMetricFamily("mlp_models_stored", "Models in the model store.")


class StorageCollector(Collector):
    """Bytes of datasets and models stored, per owner (``none``: no key), and the quotas."""

    _USED = ("mlp_storage_used_bytes", "Bytes of datasets and models stored, by owner.")
    _QUOTA = ("mlp_storage_quota_bytes", "Storage quota in bytes (0: none), per owner or total.")

    def __init__(self, quota: Callable[[], Any]) -> None:
        self._quota = quota  # the app's StorageQuota once the lifespan has built it, else None

    def collect(self) -> Iterator[Metric]:
        used = GaugeMetricFamily(*self._USED, labels=["owner"])
        limits = GaugeMetricFamily(*self._QUOTA, labels=["scope"])
        quota = self._quota()
        if quota is not None:
            try:
                usage = quota.usage()
            except Exception:
                logger.exception("could not measure storage for /metrics")
            else:
                for owner, nbytes in sorted(usage.by_owner.items(), key=lambda i: str(i[0])):
                    used.add_metric(["none" if owner is None else owner], float(nbytes))
            limits.add_metric(["owner"], float(quota.per_owner))
            limits.add_metric(["total"], float(quota.total))
        yield used
        yield limits

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(*self._USED, labels=["owner"])
        yield GaugeMetricFamily(*self._QUOTA, labels=["scope"])


class Metrics:
    """The app's registry: request count and latency by route template, plus state gauges."""

    def __init__(self, by_owner: bool = False) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "mlp_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlp_http_request_duration_seconds",
            "Time from request start to the end of the response, by route template.",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        # Bounded: methods x route templates (unmatched paths share one label) x statuses.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        # With API keys: requests by the key's name (never the key), route template and status;
        # bounded by the configured keys.
        self.by_owner = (
            Counter(
                "mlp_http_requests_by_owner",
                "HTTP requests with an API key, by the key's name (owner), route and status.",
                ["owner", "route", "status"],
                registry=self.registry,
            )
            if by_owner
            else None
        )
        self._owner_children: dict[tuple[str, str, int], Any] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one finished request (each label set's children are looked up once)."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_owner(self, owner: str, route: str, status: int) -> None:
        """Count one finished request of a key (by its owner name); no-op without keys."""
        if self.by_owner is None:
            return
        key = (owner, route, status)
        child = self._owner_children.get(key)
        if child is None:
            child = self._owner_children[key] = self.by_owner.labels(owner, route, str(status))
        child.inc()

    def watch(self, collector: Any) -> None:
        """Register a custom collector (e.g. :class:`StateCollector`)."""
        self.registry.register(collector)

    def render(self) -> bytes:
        """The Prometheus text exposition of everything in this registry."""
        return bytes(generate_latest(self.registry))
