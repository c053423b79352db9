"""What the two NeRF-training assets (`avatar`, `edited_avatar_round_k`) share: training in a scratch checkpoint
folder with per-step metrics to MLflow and progress in the step's log, then the trained checkpoint staged as the
partition's files."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import torch

from cosavatar_pipeline.nerf.checkpoint import META_FILE, TENSORS_FILE
from cosavatar_pipeline.nerf.config import NerfConfig
from cosavatar_pipeline.nerf.dataset import AvatarDataset
from cosavatar_pipeline.nerf.trainer import TrainingRun, train_avatar
from cosavatar_pipeline.tracking import TrackedRun

CHECKPOINT_FILES = [TENSORS_FILE, META_FILE]


def train_with_logs(
    context: dg.AssetExecutionContext,
    label: str,
    dataset: AvatarDataset,
    config: NerfConfig,
    scratch: Path,
    device: torch.device,
    run: TrackedRun,
    log_every_steps: int,
    initial_state: dict | None = None,
) -> TrainingRun:
    """Train (resuming from ``scratch``), every logged step's metrics to MLflow and, every ``log_every_steps``,
    a progress line; a discarded or resumed checkpoint is said in the step's log."""

    def on_metrics(step: int, metrics: dict) -> None:
        run.log_metrics(metrics, step=step)
        if step % log_every_steps == 0 or step == config.steps:
            context.log.info(
                f"{label}: step {step}/{config.steps}, loss {metrics['loss']:.5f}, batch PSNR {metrics['psnr']:.2f} dB"
            )

    training = train_avatar(dataset, config, scratch, device, on_metrics=on_metrics, initial_state=initial_state)
    if training.discarded_checkpoint:
        context.log.warning(f"{label}: {training.discarded_checkpoint}")
    if training.resumed_from:
        context.log.info(f"{label}: resumed from the checkpoint at step {training.resumed_from}")
    return training


def stage_checkpoint(scratch: Path, staging: Path) -> list[str]:
    """Copy the trained checkpoint from the scratch folder into the partition's staging folder; its file names."""
    for name in CHECKPOINT_FILES:
        shutil.copyfile(scratch / name, staging / name)
    return list(CHECKPOINT_FILES)


def training_figures(training: TrainingRun) -> dict[str, float]:
    return {
        "train_seconds": training.seconds,
        "steps": float(training.steps_done),
        "resumed_from_step": float(training.resumed_from),
    }
