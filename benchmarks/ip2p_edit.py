"""InstructPix2Pix at full size without downloadable weights: a pipeline with Stable Diffusion 1.5's architecture
and random weights (``random_ip2p.py``), run through our editor on frames windowed and upscaled to 512 px.

    python benchmarks/ip2p_edit.py [--device auto|cpu|cuda] [--frames N] [--steps N] [--batch-size N]

Defaults: on a CPU one frame and 3 steps; on CUDA a batch of 8 frames and the settings' full 20 steps. Reports
seconds per frame, peak memory and the parameter counts (to show the size is the real one). The weights are random:
this proves the real code path runs at real size, and says NOTHING about edit quality. Writes
benchmarks/results/ip2p_edit_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.random_ip2p import parameter_counts, random_ip2p_pipeline  # noqa: E402
from cosavatar_pipeline.editing.config import IP2PSettings  # noqa: E402
from cosavatar_pipeline.editing.dataset_update import edit_in_windows  # noqa: E402
from cosavatar_pipeline.editing.edit_window import whole_frame  # noqa: E402
from cosavatar_pipeline.editing.ip2p import InstructPix2PixEditor  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def synthetic_frames(count: int, size: int) -> np.ndarray:
    """Smooth colour ramps (the content does not matter with random weights)."""
    ys, xs = np.mgrid[0:size, 0:size] / size
    return np.stack([np.stack([xs, ys, (xs + ys + k / count) % 1], axis=-1) * 255 for k in range(count)]).astype(
        np.uint8
    )


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux: the process's peak RSS


def run(
    device: torch.device, frames: int, steps: int, batch_size: int, size: str = "sd15", resolution: int = 512
) -> dict:
    built = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        pipeline = random_ip2p_pipeline(size, Path(folder))
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    pipeline = pipeline.to(device, dtype)
    build_seconds = time.perf_counter() - built
    settings = IP2PSettings(model="random weights", steps=steps, edit_resolution=resolution, batch_size=batch_size)
    editor = InstructPix2PixEditor(settings, device, pipeline=pipeline)
    images = synthetic_frames(frames, 128)
    masks = np.ones(images.shape[:3], np.float32)
    windows = [whole_frame(128, 128)] * frames
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    edited = edit_in_windows(editor, windows, images, images, "give her pink hair", masks, np.arange(frames))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    if edited.shape != images.shape:
        raise RuntimeError(f"the editor returned {edited.shape} for {images.shape}")
    return {
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "architecture": size,
        "parameters": parameter_counts(pipeline),
        "edit_resolution": resolution,
        "frames": frames,
        "batch_size": editor.batch_size,
        "steps": steps,
        "build_seconds": round(build_seconds, 2),
        "seconds": round(seconds, 2),
        "seconds_per_frame": round(seconds / frames, 2),
        "peak_memory_mb": round(peak_memory_mb(device), 1),
        "peak_memory_kind": "GPU, allocated by PyTorch" if device.type == "cuda" else "process peak RSS",
        "note": "random weights: proves the real code path runs at this size; says nothing about edit quality",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    args = parser.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    on_gpu = device.type == "cuda"
    frames = args.frames or (8 if on_gpu else 1)
    report = run(
        device, frames, args.steps or (IP2PSettings().steps if on_gpu else 3), args.batch_size or (8 if on_gpu else 1)
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"ip2p_edit_{device.type}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
