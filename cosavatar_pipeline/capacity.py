"""What a backfill of N videos x M edits costs on W CPU workers and G GPU workers, from measured per-stage figures.

The table (``benchmarks/results/capacity.json``, written by ``benchmarks/stage_capacity.py``) holds, per preset and
stage, the wall time of materializing that one stage in its own process, its peak resident memory, and whether it
runs on the CPU queue or the GPU queue (the ``gpu`` pool). Video stages run once per video; edit stages once per
(edit, video).

The makespan is bounded, not predicted: no schedule beats ``max(CPU work / W, GPU work / G, one chain)``, and a
greedy scheduler that never idles a worker while a step is ready finishes within ``CPU work / W + GPU work / G +
one chain`` (Graham's bound, per resource). Step start-up, broker and storage latency are not in the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TABLE = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "capacity.json"


@dataclass(frozen=True)
class StageCost:
    seconds: float
    peak_rss_mib: float
    queue: str  # "cpu" or "gpu"
    per: str  # "video" or "edit"


@dataclass(frozen=True)
class Estimate:
    cpu_work_s: float
    gpu_work_s: float
    chain_s: float  # one video's stages then one edit's, back to back
    makespan_lower_s: float
    makespan_upper_s: float
    cpu_worker_memory_mib: float  # the largest stage a CPU worker runs (per concurrent step)
    gpu_worker_memory_mib: float

    def lines(self) -> list[str]:
        hours = lambda seconds: f"{seconds / 3600:.2f} h"  # noqa: E731
        return [
            f"CPU work {hours(self.cpu_work_s)}, GPU work {hours(self.gpu_work_s)}, one video + one edit in a row "
            f"{self.chain_s / 60:.1f} min",
            f"wall clock between {hours(self.makespan_lower_s)} (no schedule is faster) and "
            f"{hours(self.makespan_upper_s)} (any scheduler that keeps workers busy)",
            f"memory per concurrent step: CPU worker {self.cpu_worker_memory_mib:.0f} MiB, "
            f"GPU worker {self.gpu_worker_memory_mib:.0f} MiB (host RAM; GPU memory not measured here)",
        ]


def load_table(path: Path = DEFAULT_TABLE) -> dict:
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no capacity table; run `make bench-capacity` to measure one")
    return json.loads(Path(path).read_text())


def stage_costs(table: dict, preset: str) -> dict[str, StageCost]:
    presets = table["presets"]
    if preset not in presets:
        raise KeyError(f"preset {preset!r} is not in the capacity table (measured: {', '.join(sorted(presets))})")
    return {
        name: StageCost(row["seconds"], row["peak_rss_mib"], row["queue"], row["per"])
        for name, row in presets[preset]["stages"].items()
    }


def estimate(costs: dict[str, StageCost], videos: int, edits: int, cpu_workers: int, gpu_workers: int) -> Estimate:
    if min(videos, edits) < 0 or min(cpu_workers, gpu_workers) < 1:
        raise ValueError("videos and edits must be >= 0, and there must be at least one worker of each kind")
    count = {"video": videos, "edit": videos * edits}
    work = {"cpu": 0.0, "gpu": 0.0}
    for cost in costs.values():
        work[cost.queue] += cost.seconds * count[cost.per]
    chain = 0.0
    if videos:
        chain = sum(cost.seconds for cost in costs.values() if cost.per == "video" or (edits and cost.per == "edit"))
    per_worker = {"cpu": work["cpu"] / cpu_workers, "gpu": work["gpu"] / gpu_workers}
    memory = {
        queue: max((cost.peak_rss_mib for cost in costs.values() if cost.queue == queue), default=0.0)
        for queue in ("cpu", "gpu")
    }
    return Estimate(
        cpu_work_s=work["cpu"],
        gpu_work_s=work["gpu"],
        chain_s=chain,
        makespan_lower_s=max(per_worker["cpu"], per_worker["gpu"], chain),
        makespan_upper_s=per_worker["cpu"] + per_worker["gpu"] + chain,
        cpu_worker_memory_mib=memory["cpu"],
        gpu_worker_memory_mib=memory["gpu"],
    )
