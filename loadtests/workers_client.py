"""``fanout_client.py`` with batched reads (``workers.py --client-impl batched``).

On a two-core box the subscribers need a core or more: a Python client woken once per
frame pays ~20 µs per delivery, more than the hub spends sending it, so the clients
and not the hub set the ceiling. This client is ``RawSubscriber`` unchanged, except
that once subscribed each socket is read at most once per ``WORKERS_CLIENT_BATCH_MS``
(default 20 ms): after a read its transport pauses, and a timer resumes every
paused one. Frames pile up in the kernel meanwhile (a few KB; the hub never sees
pushback), so one wake-up parses many frames. And only one delivery in
``WORKERS_CLIENT_SAMPLE`` (default 16) is parsed for its stamp and timed into the
histogram; the others are only counted. Latency gains up to one batch period and
its percentiles come from the sample; deliveries/s is what ``workers.py``
measures with it.
"""

from __future__ import annotations

import asyncio
import os

from loadtests import fanout_client

BATCH_S = float(os.environ.get("WORKERS_CLIENT_BATCH_MS", "20")) / 1000
SAMPLE = max(1, int(os.environ.get("WORKERS_CLIENT_SAMPLE", "16")))
_paused: list[asyncio.Transport] = []
_ticker: list[asyncio.Task[None]] = []  # started with the first pause, in the client's loop


async def _resume_every(seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        batch = _paused[:]
        _paused.clear()
        for transport in batch:
            if not transport.is_closing():
                transport.resume_reading()


class BatchedSubscriber(fanout_client.RawSubscriber):
    frames = 0

    def _delivery(self, data: bytes, now: int) -> None:
        self.frames += 1
        if self.frames % SAMPLE:  # each round has its own room: every frame is this run's
            self.stats.received += 1
            self.stats.last_ns = now
            return
        super()._delivery(data, now)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        transport = self.transport
        if self.live and not self.gone and transport is not None and not transport.is_closing():
            transport.pause_reading()
            _paused.append(transport)
            if not _ticker:
                _ticker.append(asyncio.get_running_loop().create_task(_resume_every(BATCH_S)))


def cli() -> None:
    # fanout_client._open_raw looks RawSubscriber up when it connects: swap in ours.
    fanout_client.RawSubscriber = BatchedSubscriber  # type: ignore[misc]
    fanout_client.cli()


if __name__ == "__main__":
    cli()
