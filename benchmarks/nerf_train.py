"""NeRF training benchmark on a real clip at the `preview` preset.

    python benchmarks/nerf_train.py [--video PATH] [--budgets 2,5,10] [--throughput-steps 40]

1. Throughput, side by side in this run: our field (tri-plane + 2x64 MLPs) vs a plain positional-encoding MLP
   (8x128, 10 frequencies, as in the original NeRF), same rays, same samples, same renderer; occupancy skipping
   off for both (field speed), then ours with skipping on (what training gets).
2. Held-out PSNR (every 10th frame, zero appearance latent) after fixed wall-clock training budgets; the clock
   excludes evaluation. Training resumes from its checkpoint between budgets.
3. Peak RSS of the process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.clips import SHARED_VIDEOS, prepare_clip  # noqa: E402
from cosavatar_pipeline.nerf.allocator import tune_glibc_malloc  # noqa: E402
from cosavatar_pipeline.nerf.config import code_conditioning  # noqa: E402
from cosavatar_pipeline.nerf.dataset import AvatarDataset  # noqa: E402
from cosavatar_pipeline.nerf.evaluation import evaluate_holdout  # noqa: E402
from cosavatar_pipeline.nerf.fields import DENSITY_BIAS  # noqa: E402
from cosavatar_pipeline.nerf.trainer import build_model, build_optimizer, train_avatar, train_step  # noqa: E402
from cosavatar_pipeline.presets import nerf_config  # noqa: E402
from cosavatar_pipeline.preview import save_png  # noqa: E402

DEFAULT_VIDEO = SHARED_VIDEOS / "talking_woman_bluebg.mp4"


class PositionalEncodingField(nn.Module):
    """The baseline: sin/cos positional encoding (10 frequencies) + an 8x128 MLP, with the same conditioning."""

    def __init__(self, condition_dims: int, frequencies: int = 10, width: int = 128, depth: int = 8):
        super().__init__()
        self.frequencies = 2.0 ** torch.arange(frequencies) * torch.pi
        layers, inputs = [], 3 + 6 * frequencies + condition_dims
        for _ in range(depth):
            layers += [nn.Linear(inputs, width), nn.ReLU()]
            inputs = width
        self.mlp = nn.Sequential(*layers, nn.Linear(width, 4))
        self.condition_dims = condition_dims

    def forward(self, points, condition):
        angles = points[..., None] * self.frequencies.to(points)
        encoded = torch.cat([points, torch.sin(angles).flatten(1), torch.cos(angles).flatten(1), condition], dim=-1)
        raw = self.mlp(encoded)
        return nn.functional.softplus(raw[:, 0] - DENSITY_BIAS), torch.sigmoid(raw[:, 1:])


def prepare(video: Path, workdir: Path) -> AvatarDataset:
    clip = prepare_clip(video, workdir)
    return clip.dataset(nerf_config("preview"))


def throughput(model, optimizer, dataset, config, steps: int, skip_empty: bool) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    step_index = config.occupancy_warmup_steps if skip_empty else 0
    if skip_empty:
        model.refresh_occupancy(dataset, rng)
    for _ in range(3):
        train_step(model, optimizer, dataset, config, rng, "cpu", step_index)
    started = time.perf_counter()
    for _ in range(steps):
        train_step(model, optimizer, dataset, config, rng, "cpu", step_index)
    seconds = time.perf_counter() - started
    rays = steps * config.rays_per_step
    return rays / seconds, rays * (config.head_samples + config.torso_samples) / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--budgets", default="2,5,10", help="cumulative training minutes at which to evaluate")
    parser.add_argument("--throughput-steps", type=int, default=40)
    parser.add_argument("--preview-out", type=Path, default=None, help="save the last held-out strip as PNG")
    args = parser.parse_args()
    torch.set_num_threads(2)
    tune_glibc_malloc()
    workdir = Path(tempfile.mkdtemp(prefix="nerf_bench_"))
    dataset = prepare(args.video, workdir)
    config = nerf_config("preview", steps=10**9, checkpoint_every=10**9, log_every=10**9)

    ours = build_model(config, dataset)
    ours_optimizer = build_optimizer(ours, config)
    ours_rays, ours_samples = throughput(ours, ours_optimizer, dataset, config, args.throughput_steps, skip_empty=False)
    # the field-speed baseline keeps plain MLP conditioning (its field takes no warp or colour-only latent)
    baseline_config = code_conditioning(config)
    baseline = build_model(baseline_config, dataset)
    baseline.head = PositionalEncodingField(baseline.head.condition_dims)
    baseline.torso = PositionalEncodingField(baseline.torso.condition_dims)
    baseline_optimizer = torch.optim.Adam(baseline.parameters(), 1e-3)
    base_rays, base_samples = throughput(
        baseline, baseline_optimizer, dataset, baseline_config, max(5, args.throughput_steps // 4), skip_empty=False
    )
    skip_rays, skip_samples = throughput(ours, ours_optimizer, dataset, config, args.throughput_steps, skip_empty=True)
    print(
        f"\nthroughput ({config.rays_per_step} rays x {config.head_samples + config.torso_samples} samples per step, "
        "2 threads)"
    )
    print(f"  PE-MLP 8x128 baseline   {base_rays:>9.0f} rays/s {base_samples:>11.0f} samples/s")
    print(
        f"  ours (tri-plane)        {ours_rays:>9.0f} rays/s {ours_samples:>11.0f} samples/s   "
        f"{ours_samples / base_samples:.1f}x baseline"
    )
    print(
        f"  ours + empty skipping   {skip_rays:>9.0f} rays/s {skip_samples:>11.0f} samples/s   "
        f"{skip_samples / base_samples:.1f}x baseline (nominal samples)"
    )
    del baseline

    print("\nheld-out PSNR after training (wall clock, evaluation excluded)")
    checkpoints = workdir / "checkpoints"
    spent = 0.0
    evaluation = None
    for minutes in [float(b) for b in args.budgets.split(",")]:
        run = train_avatar(dataset, config, checkpoints, "cpu", max_seconds=minutes * 60 - spent)
        spent += run.seconds
        evaluation = evaluate_holdout(run.model, dataset)
        f = evaluation.figures
        print(
            f"  {minutes:>4.0f} min ({run.steps_done:>5d} steps): full frame {f['holdout_psnr']:.2f} dB, person "
            f"{f['holdout_psnr_person']:.2f} dB, SSIM {f['holdout_ssim']:.3f} (background plate alone: "
            f"{f['plate_psnr']:.2f} dB)"
        )
    if args.preview_out and evaluation is not None:
        save_png(args.preview_out, evaluation.preview)
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB")


if __name__ == "__main__":
    main()
