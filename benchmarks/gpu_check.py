"""`make gpu-check`: one script for a lent GPU (at most 8 minutes): the `high` avatar (hash grids) trained a few
hundred steps on a real clip, the full-size InstructPix2Pix edit on a batch (random weights, ``ip2p_edit.py``),
and one edit round at `standard` with that editor; times and peak GPU memory printed per part. Any CUDA error
ends it with a non-zero exit.

    python benchmarks/gpu_check.py [--video PATH] [--out DIR]
    python benchmarks/gpu_check.py --device cpu --tiny    # the same code at tiny sizes, on a CPU (make test runs it)

Writes benchmarks/results/gpu_check_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import ip2p_edit  # noqa: E402
from benchmarks.clips import SHARED_VIDEOS, prepare_clip  # noqa: E402
from benchmarks.random_ip2p import random_ip2p_pipeline  # noqa: E402
from cosavatar_pipeline.editing.config import IP2PSettings  # noqa: E402
from cosavatar_pipeline.editing.ip2p import InstructPix2PixEditor  # noqa: E402
from cosavatar_pipeline.editing.loop import EditRequest  # noqa: E402
from cosavatar_pipeline.nerf.render import render_dataset_frames  # noqa: E402
from cosavatar_pipeline.nerf.trainer import train_avatar  # noqa: E402
from cosavatar_pipeline.presets import edit_round_config, nerf_config  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class CheckSizes:
    avatar_preset: str = "high"
    avatar_steps: int = 300
    ip2p_architecture: str = "sd15"
    ip2p_resolution: int = 512
    ip2p_frames: int = 8
    ip2p_steps: int = 20
    round_preset: str = "standard"
    round_avatar_steps: int = 300
    finetune_steps: int = 200


TINY = CheckSizes("tiny", 20, "tiny", 64, 2, 2, "tiny", 20, 10)


def peak_mb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def check_avatar(video: Path, out: Path, device: torch.device, sizes: CheckSizes) -> dict:
    clip = prepare_clip(video, out, sizes.avatar_preset)
    config = nerf_config(sizes.avatar_preset, steps=sizes.avatar_steps)
    dataset = clip.dataset(config)
    reset_peak(device)
    training = train_avatar(dataset, config, out / f"avatar_{sizes.avatar_preset}", device)
    rendered = render_dataset_frames(training.model, dataset, dataset.holdout[:2], own_appearance=False)["rgb"]
    return {
        "preset": sizes.avatar_preset,
        "encoding": config.head_encoding.kind,
        "steps": training.steps_done,
        "train_seconds": round(training.seconds, 1),
        "rays_per_second": round(training.rays_per_second),
        "rendered_frames": len(rendered),
        "peak_gpu_memory_mb": peak_mb(device),
    }


def editor_for(device: torch.device, sizes: CheckSizes, folder: Path) -> InstructPix2PixEditor:
    pipeline = random_ip2p_pipeline(sizes.ip2p_architecture, folder)
    pipeline = pipeline.to(device, torch.float16 if device.type == "cuda" else torch.float32)
    settings = IP2PSettings(model="random weights", steps=sizes.ip2p_steps, edit_resolution=sizes.ip2p_resolution)
    return InstructPix2PixEditor(settings, device, pipeline=pipeline)


def check_edit_round(video: Path, out: Path, device: torch.device, sizes: CheckSizes, folder: Path) -> dict:
    clip = prepare_clip(video, out, sizes.round_preset)
    config = nerf_config(sizes.round_preset, steps=sizes.round_avatar_steps)
    dataset = clip.dataset(config)
    model = train_avatar(dataset, config, out / f"avatar_{sizes.round_preset}", device).model
    editor = editor_for(device, sizes, folder)
    round_config = replace(edit_round_config(sizes.round_preset), finetune_steps=sizes.finetune_steps)
    reset_peak(device)
    started = time.perf_counter()
    pink_hair = EditRequest("give her pink hair", "hair")
    loop = clip.edit_loop(model, dataset, editor, pink_hair, 1, round_config, out / "round", str(device))
    return {
        "preset": sizes.round_preset,
        "frames_edited": len(loop.rounds[0].frame_ids),
        "batch_size": editor.batch_size,
        "edit_resolution": editor.resolution,
        "finetune_steps": sizes.finetune_steps,
        "round_seconds": round(time.perf_counter() - started, 1),
        "peak_gpu_memory_mb": peak_mb(device),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video", type=Path, default=SHARED_VIDEOS / "talking_woman_bluebg.mp4")
    parser.add_argument("--out", type=Path, default=Path(".cosavatar/benchmarks/gpu_check"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (a CPU run of the same code)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu-check: no CUDA device is visible to PyTorch (torch.cuda.is_available() is False)")
    sizes = TINY if args.tiny else CheckSizes()
    report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "sizes": sizes.__dict__}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        print("1/3 avatar ...", flush=True)
        report["avatar"] = check_avatar(args.video, args.out, device, sizes)
        print(json.dumps(report["avatar"]), flush=True)
        print("2/3 full-size InstructPix2Pix edit ...", flush=True)
        report["ip2p_edit"] = ip2p_edit.run(
            device,
            sizes.ip2p_frames,
            sizes.ip2p_steps,
            sizes.ip2p_frames,
            sizes.ip2p_architecture,
            sizes.ip2p_resolution,
        )
        print(json.dumps(report["ip2p_edit"]), flush=True)
        print("3/3 one edit round ...", flush=True)
        report["edit_round"] = check_edit_round(args.video, args.out, device, sizes, Path(folder))
        print(json.dumps(report["edit_round"]), flush=True)
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"gpu_check_{device.type}{'_tiny' if args.tiny else ''}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"gpu-check passed in {report['wall_seconds']} s; wrote {path}")
    return report


if __name__ == "__main__":
    main()
