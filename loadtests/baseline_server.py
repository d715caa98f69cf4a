"""Baseline fan-out server: ``websockets.serve`` + ``websockets.broadcast()`` fed by Redis.

The smallest reasonable Python peer of the hub, used by ``loadtests/fanout.py``
as the yardstick. Every websocket client is a subscriber of the one room; each
publication that arrives on the room's Redis pub/sub channel (published by the
hub's own ``RedisBroker.publish``) is forwarded verbatim, as a text frame, to
all open connections with one ``broadcast()`` call. ``GET /ready`` answers 200
once Redis is subscribed, so the harness can wait for it like for the hub.
Compression and keepalive pings are off (the harness also quiets the hub's
keepalive), so only fan-out work lands in the measured CPU time.

Run: ``python -m loadtests.baseline_server --port 8765 --room org:<uuid> --prefix p``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from http import HTTPStatus

import redis.asyncio as aioredis
import uvloop
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.http11 import Request, Response

from rooms.broker import EPHEMERAL
from rooms.redis_broker import RedisBroker


async def _hold(ws: ServerConnection) -> None:
    await ws.wait_closed()


async def _forward(pubsub: aioredis.client.PubSub, server: Server, room: str) -> None:
    async for msg in pubsub.listen():
        if msg.get("type") != "message":
            continue
        pub = RedisBroker.decode(room, msg["data"])
        if pub.offset != EPHEMERAL:
            broadcast(server.connections, pub.data, text=True)


async def main(args: argparse.Namespace) -> None:
    channel = RedisBroker(args.redis_url, prefix=args.prefix).channel(args.room)
    redis = aioredis.Redis.from_url(args.redis_url)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)  # before listening: once /ready answers, nothing is missed

    def process_request(conn: ServerConnection, request: Request) -> Response | None:
        if request.path == "/ready":
            return conn.respond(HTTPStatus.OK, "ready\n")
        return None

    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(_hold, args.host, args.port, compression=None, ping_interval=None,
                     max_size=64 * 1024, process_request=process_request,
                     backlog=4096) as server:
        reader = asyncio.create_task(_forward(pubsub, server, args.room))
        await stop
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    await pubsub.aclose()
    await redis.aclose()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--prefix", required=True, help="RedisBroker key prefix")
    parser.add_argument("--room", required=True, help="room name, e.g. org:<uuid>")
    uvloop.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
