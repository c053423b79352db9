"""Train the avatar on one video: batched rays, checkpoints every N steps, resume from the last checkpoint."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cosavatar_pipeline.nerf import losses
from cosavatar_pipeline.nerf.allocator import tune_glibc_malloc
from cosavatar_pipeline.nerf.checkpoint import (
    CheckpointError,
    discard,
    has_checkpoint,
    load_checkpoint,
    read_meta,
    restore,
    save_checkpoint,
)
from cosavatar_pipeline.nerf.config import NerfConfig
from cosavatar_pipeline.nerf.dataset import AvatarDataset
from cosavatar_pipeline.nerf.model import AvatarModel, FaceSetup

MetricsCallback = Callable[[int, dict[str, float]], None]


@dataclass
class TrainingRun:
    model: AvatarModel
    steps_done: int
    resumed_from: int  # 0 when trained from scratch
    seconds: float
    rays_per_second: float
    samples_per_second: float  # evaluated (in-box, occupied) samples
    nominal_samples_per_second: float  # rays x samples per ray, as baselines count them
    discarded_checkpoint: str | None = None  # why an unusable checkpoint in the folder was removed


def build_model(config: NerfConfig, dataset: AvatarDataset) -> AvatarModel:
    codes = dataset.expressions[dataset.train]
    face = FaceSetup(
        dataset.face_model.identity,
        dataset.warp_landmarks,
        codes.mean(axis=0),
        codes.std(axis=0),
        dataset.mouth_interior_rgb(),
    )
    return AvatarModel(config, dataset.count, dataset.expressions.shape[1], dataset.head_box, dataset.torso_box, face)


def build_optimizer(model: AvatarModel, config: NerfConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(
        [
            {"params": model.encoding_parameters(), "lr": config.learning_rate},
            {"params": model.network_parameters(), "lr": config.mlp_learning_rate},
        ],
        eps=1e-15,
    )


def load_trained(folder: Path, dataset: AvatarDataset, device: torch.device | str = "cpu") -> AvatarModel:
    """The avatar saved in ``folder`` (a checkpoint), for rendering or fine-tuning."""
    tensors, meta = load_checkpoint(folder)
    model = build_model(NerfConfig.from_dict(meta["config"]), dataset)
    restore(model, None, tensors, meta)
    return model.to(device)


def saved_config(folder: Path) -> NerfConfig:
    """The settings a stored avatar was trained with (its architecture included)."""
    return NerfConfig.from_dict(read_meta(folder)["config"])


ARCHITECTURE_FIELDS = (
    "head_encoding",
    "torso_encoding",
    "hidden_width",
    "appearance_dims",
    "expression_control",
    "expression_dims",
    "expression_variance",
    "occupancy_resolution",
    "head_pose_condition",
)


def resume(model: AvatarModel, optimizer: torch.optim.Optimizer, folder: Path, config: NerfConfig) -> int:
    """Restore model and optimizer from the checkpoint in ``folder``; the step it resumes at. CheckpointError when
    it cannot be resumed: unreadable (truncated, corrupt), of another architecture, or not fitting the model."""
    tensors, meta = load_checkpoint(folder)
    try:
        saved = NerfConfig.from_dict(meta["config"])
    except (KeyError, TypeError) as exc:
        raise CheckpointError(folder, f"holds no readable settings ({exc})") from None
    if not all(getattr(saved, name) == getattr(config, name) for name in ARCHITECTURE_FIELDS):
        raise CheckpointError(folder, "was trained with another architecture")
    try:
        restore(model, optimizer, tensors, meta)
        return int(meta["step"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:  # tensors of the wrong shape, a partial state
        raise CheckpointError(folder, f"does not fit this model ({str(exc)[:160]})") from None


def occupancy_warmup(config: NerfConfig) -> int:
    """The step from which the occupancy grid is probed and empty space skipped: the configured warm-up, or half the
    training when that is shorter. An avatar trained for fewer steps than the warm-up (a quick look) was otherwise
    saved with a grid never probed, and each of its renders evaluated every sample (2.5x slower)."""
    return min(config.occupancy_warmup_steps, config.steps // 2)


def train_step(model, optimizer, dataset, config, rng, device, step: int) -> dict[str, float]:
    rays, targets = dataset.sample(rng, config.rays_per_step, config.person_ray_fraction, config.mouth_ray_fraction)
    rays, targets = rays.to(device), targets.to(device)
    warp = dataset.warp_fields_on(device) if model.warped else None
    output = model.render_rays(
        rays, camera=dataset.camera, warp=warp, jitter=True, skip_empty=step >= occupancy_warmup(config)
    )
    photometric = losses.photometric(output["rgb"], targets.rgb, targets.weight)
    opacity = losses.opacity_vs_mask(output["opacity"], targets.person)
    split = losses.head_split(output["head_opacity"], targets.head, targets.head_valid)
    loss = photometric + config.opacity_weight * opacity + config.head_split_weight * split
    if model.warped:
        loss = loss + config.appearance_weight * model.appearance[rays.frame].pow(2).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {
        "loss": float(loss.detach()),
        "photometric": float(photometric.detach()),
        "psnr": float(-10 * torch.log10(photometric.detach().clamp_min(1e-10))),
        "opacity_loss": float(opacity.detach()),
        "head_split_loss": float(split.detach()),
        "evaluated_samples": float(output["evaluated_samples"]),
    }


def train_avatar(
    dataset: AvatarDataset,
    config: NerfConfig,
    checkpoint_dir: Path,
    device: torch.device | str = "cpu",
    on_metrics: MetricsCallback | None = None,
    max_seconds: float | None = None,
    initial_state: dict[str, torch.Tensor] | None = None,
) -> TrainingRun:
    """Train for ``config.steps`` steps (or until ``max_seconds``), resuming from ``checkpoint_dir`` when it holds a
    checkpoint. ``initial_state`` starts from another model's weights (fine-tuning)."""
    if config.threads:
        torch.set_num_threads(config.threads)
    tune_glibc_malloc()
    torch.manual_seed(config.seed)
    device = torch.device(device)
    model = build_model(config, dataset).to(device)
    optimizer = build_optimizer(model, config)
    start_step, discarded = 0, None
    if has_checkpoint(checkpoint_dir):
        try:
            start_step = resume(model, optimizer, checkpoint_dir, config)
        except CheckpointError as exc:
            discard(checkpoint_dir)
            discarded = f"{exc}; it was discarded and training starts again"
            model = build_model(config, dataset)  # a partial restore may have changed the first one
            optimizer = build_optimizer(model, config)
        model.to(device)
    if start_step == 0 and initial_state is not None:
        model.load_state_dict(initial_state)
    rng = np.random.default_rng(config.seed + start_step)
    started = time.perf_counter()
    evaluated = 0
    step = start_step
    last = {}
    while step < config.steps:
        if step >= occupancy_warmup(config) and step % config.occupancy_update_every == 0:
            model.refresh_occupancy(dataset, rng)
        last = train_step(model, optimizer, dataset, config, rng, device, step)
        evaluated += last["evaluated_samples"]
        step += 1
        if on_metrics and (step % config.log_every == 0 or step == config.steps):
            on_metrics(step, {**last, "head_occupied_fraction": model.head_occupancy.occupied_fraction})
        if step % config.checkpoint_every == 0 or step == config.steps:
            save_checkpoint(checkpoint_dir, model, optimizer, {"step": step, "config": config.as_dict()})
        if max_seconds is not None and time.perf_counter() - started >= max_seconds:
            save_checkpoint(checkpoint_dir, model, optimizer, {"step": step, "config": config.as_dict()})
            break
    seconds = time.perf_counter() - started
    steps_run = max(step - start_step, 1)
    return TrainingRun(
        model=model,
        steps_done=step,
        resumed_from=start_step,
        seconds=seconds,
        rays_per_second=steps_run * config.rays_per_step / max(seconds, 1e-9),
        samples_per_second=evaluated / max(seconds, 1e-9),
        nominal_samples_per_second=steps_run
        * config.rays_per_step
        * (config.head_samples + config.torso_samples)
        / max(seconds, 1e-9),
        discarded_checkpoint=discarded,
    )
