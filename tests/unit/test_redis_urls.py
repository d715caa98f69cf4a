"""Which Redis a URL names: one server, or a Redis Cluster (rooms.redis_client)."""

from __future__ import annotations

import pytest
from redis.asyncio.cluster import RedisCluster

from hub.settings import load
from rooms.broker import broker_from_url
from rooms.cluster_broker import ClusterBroker
from rooms.redis_broker import RedisBroker
from rooms.redis_client import as_cluster_url, cluster_client, is_cluster_url


def test_cluster_url_lists_every_node_as_a_startup_node() -> None:
    """redis+cluster://a:1,b:2 starts from both nodes, with the URL's credentials."""
    rc = cluster_client("redis+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2:7001")
    assert isinstance(rc, RedisCluster)
    nodes = {(n.host, n.port) for n in rc.nodes_manager.startup_nodes.values()}
    assert nodes == {("10.0.0.1", 7000), ("10.0.0.2", 7001)}
    assert rc.get_connection_kwargs()["password"] == "p@ss"
    assert rc.get_connection_kwargs()["username"] == "u"


def test_a_node_without_a_port_is_refused() -> None:
    with pytest.raises(ValueError, match="host:port"):
        cluster_client("redis+cluster://10.0.0.1:7000,10.0.0.2")


def test_redis_cluster_setting_turns_a_plain_url_into_a_cluster_url() -> None:
    """REDIS_CLUSTER=1 with redis:// means the same as redis+cluster://."""
    settings = load({"REDIS_URL": "redis://10.0.0.1:7000", "REDIS_CLUSTER": "1"})
    assert settings.redis_target == "redis+cluster://10.0.0.1:7000"
    assert load({"REDIS_URL": "redis://10.0.0.1:7000"}).redis_target == "redis://10.0.0.1:7000"
    assert as_cluster_url("rediss://h:1") == "rediss+cluster://h:1"
    assert is_cluster_url("rediss+cluster://h:1") and not is_cluster_url("redis://h:1")


def test_broker_kind_follows_the_scheme() -> None:
    assert type(broker_from_url("redis+cluster://127.0.0.1:7000")) is ClusterBroker
    assert type(broker_from_url("redis://127.0.0.1:6379/0")) is RedisBroker
