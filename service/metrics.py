"""Prometheus metrics in a registry owned by one app, so several apps (tests, reloads) in
one process never collide on the global registry."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class ServiceMetrics:
    """The server's counters: HTTP traffic, queueing, batching and model time."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("stance_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r)
        self.latency = Histogram(
            "stance_http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.batch_sentences = Histogram("stance_batch_sentences", "Sentences per model call", buckets=SIZE_BUCKETS, registry=r)
        self.batch_requests = Histogram("stance_batch_requests", "Requests merged into one model call", buckets=SIZE_BUCKETS, registry=r)
        self.queue_wait = Histogram("stance_queue_wait_seconds", "Time a request waited for the model", buckets=LATENCY_BUCKETS, registry=r)
        self.inference = Histogram("stance_inference_seconds", "Time the model spent on one batch", ["kind"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("stance_queue_depth", "Requests waiting for the model", registry=r)
        self.rejected = Counter("stance_rejected_requests", "Requests refused with 429: the backlog would keep them over STANCE_MAX_WAIT_S, or the queue was full", registry=r)
        self.model_loaded = Gauge("stance_model_loaded", "1 once a model is loaded and serving", registry=r)
        self.model_info = Gauge("stance_model_info", "The model being served (value 1)", ["name", "version"], registry=r)
        self.reloads = Counter("stance_model_reloads", "Admin model reloads", ["outcome"], registry=r)

    def set_model(self, name: str, version: str) -> None:
        self.model_info.clear()
        self.model_info.labels(name=name, version=version).set(1)
        self.model_loaded.set(1)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
