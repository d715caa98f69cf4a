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
