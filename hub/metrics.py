"""Prometheus metrics, served at ``/metrics``. Counted per fan-out, not per send."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONNECTIONS = Gauge("hub_connections", "Open websocket connections and event streams")
SUBSCRIPTIONS = Gauge("hub_subscriptions", "Local room subscriptions")
ROOMS = Gauge("hub_rooms", "Rooms with at least one local subscriber")
MESSAGES_IN = Counter("hub_messages_in_total", "Client frames received")
PUBLISHED = Counter("hub_published_total", "Messages published (websocket and HTTP)")
MESSAGES_OUT = Counter("hub_messages_out_total", "Message deliveries to local subscribers")
SLOW_CONSUMERS = Counter("hub_slow_consumers_total", "Connections closed as slow consumers")
ERRORS = Counter("hub_errors_total", "Error frames sent", ["code"])
REFUSED = Counter("hub_http_refused_total",
                  "HTTP connections cut at the edge (hub.http_limits)", ["reason"])
BROKER_LATENCY = Histogram(
    "hub_broker_publish_seconds",
    "Broker publish latency (history save + fan-out), every publish through the node",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)

# Cyclic GC (hub.gc_policy): pauses by generation 0/1/2, timed through gc.callbacks.
_GC_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
GC_PAUSE = Histogram("hub_gc_pause_seconds", "Event-loop pauses of cyclic GC collections",
                     ["generation"], buckets=_GC_BUCKETS)
GC_PAUSE_MAX = Gauge("hub_gc_pause_max_seconds",
                     "Longest cyclic GC pause since the process started", ["generation"])
GC_COLLECTED = Counter("hub_gc_collected_total", "Unreachable objects the cyclic GC freed",
                       ["generation"])
GC_FROZEN = Gauge("hub_gc_frozen_objects",
                  "Objects in the permanent generation (gc.freeze), never walked by the GC")
GC_FREEZES = Counter("hub_gc_freezes_total",
                     "gc.freeze() calls: kind=burst after new connections, full after an "
                     "unfreeze + full collection (start-up and after churn)", ["kind"])
