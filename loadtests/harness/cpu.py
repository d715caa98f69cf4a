"""Who used the cores in a measured window: named parties, this process, and everything else."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class CpuReading:
    at: float  # time.monotonic() of the reading
    parties: dict[str, float]  # CPU seconds so far of each measured party
    box: float  # busy CPU seconds of the whole machine, all cores
    me: float  # this process: the harness and its publisher


def read_cpu(parties: Mapping[str, float]) -> CpuReading:
    """Take a reading; ``parties`` are CPU seconds the caller just read (server, clients..)."""
    box = psutil.cpu_times()
    me = psutil.Process().cpu_times()
    busy = (box.user + box.nice + box.system + getattr(box, "irq", 0.0)
            + getattr(box, "softirq", 0.0) + getattr(box, "steal", 0.0))
    return CpuReading(time.monotonic(), dict(parties), float(busy), float(me.user + me.system))


@dataclass(frozen=True)
class CpuWindow:
    wall_s: float
    cpu_s: dict[str, float]  # per party, and "other"

    def use(self, party: str) -> float:
        """Core use of a party over the window, as a share of one core."""
        return self.cpu_s.get(party, 0.0) / self.wall_s


def cpu_window(start: CpuReading, end: CpuReading,
               measured_apart: Mapping[str, float] | None = None) -> CpuWindow:
    """CPU per party between two readings. ``measured_apart``: parties that timed
    themselves over the window (a process that exits before ``end``). ``other`` is the
    machine's busy time that neither a party nor this process accounts for: other
    jobs, unmeasured servers, softirq."""
    wall = max(end.at - start.at, 1e-9)
    cpu = {k: v - start.parties.get(k, 0.0) for k, v in end.parties.items()}
    cpu.update(measured_apart or {})
    ours = sum(cpu.values()) + (end.me - start.me)
    cpu["other"] = max(0.0, (end.box - start.box) - ours)
    return CpuWindow(wall, cpu)
