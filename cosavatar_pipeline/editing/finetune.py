"""Fine-tuning the avatar on a round's edited dataset, and the figures that say what the round changed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from cosavatar_pipeline.editing.blend import change_inside_outside
from cosavatar_pipeline.editing.config import EditRoundConfig
from cosavatar_pipeline.nerf.config import NerfConfig
from cosavatar_pipeline.nerf.metrics import psnr
from cosavatar_pipeline.preview import evenly_spaced


def edited_training_data(
    frames: np.ndarray, label_maps: np.ndarray, frame_ids: np.ndarray, targets: np.ndarray, target_labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The video's frames and label maps with the round's targets (and their labels) in place of the training
    frames; held-out frames keep their originals (they are never trained on)."""
    edited_frames, edited_labels = np.array(frames), np.array(label_maps)
    edited_frames[frame_ids] = targets
    edited_labels[frame_ids] = target_labels
    return edited_frames, edited_labels


def finetune_config(avatar_config: NerfConfig, round_config: EditRoundConfig) -> NerfConfig:
    """The avatar's own architecture, trained for the round's steps. The occupancy grid comes with the weights, so
    empty space is skipped from the first step."""
    return dataclasses.replace(
        avatar_config,
        steps=round_config.finetune_steps,
        checkpoint_every=round_config.checkpoint_every,
        occupancy_warmup_steps=0,
        rays_per_step=round_config.rays_per_step or avatar_config.rays_per_step,
        learning_rate=avatar_config.learning_rate * round_config.learning_rate_scale,
        mlp_learning_rate=avatar_config.mlp_learning_rate * round_config.learning_rate_scale,
    )


@dataclass
class RoundEvaluation:
    figures: dict[str, float]
    preview: np.ndarray  # rows of original | target | fine-tuned render


def evaluate_round(
    renders: np.ndarray, previous_renders: np.ndarray, targets: np.ndarray, originals: np.ndarray, regions: np.ndarray
) -> RoundEvaluation:
    """All arrays for the same evaluation frames. Change is in 0-255 levels, mean absolute over pixels and channels.

    - ``psnr_vs_targets``: how well the avatar learned the round's targets;
    - ``render_change_inside/outside``: the fine-tuned avatar vs the original frames; outside the region this is
      reconstruction error plus leakage, so ``previous_render_change_outside`` (the avatar before this round, same
      frames) is the baseline to read it against;
    - ``change_between_rounds_inside/outside``: this avatar vs the previous one (how much a round still moves).
    """
    pairs = list(zip(renders, previous_renders, targets, originals, regions))
    now = [change_inside_outside(r, o, m) for r, _, _, o, m in pairs]
    before = [change_inside_outside(p, o, m) for _, p, _, o, m in pairs]
    between = [change_inside_outside(r, p, m) for r, p, _, _, m in pairs]
    figures = {
        "psnr_vs_targets": float(np.mean([psnr(r, t) for r, _, t, _, _ in pairs])),
        "psnr_vs_targets_inside": float(np.mean([psnr(r, t, m) for r, _, t, _, m in pairs if m.any()])),
        "render_change_inside": float(np.mean([v[0] for v in now])),
        "render_change_outside": float(np.mean([v[1] for v in now])),
        "previous_render_change_outside": float(np.mean([v[1] for v in before])),
        "change_between_rounds_inside": float(np.mean([v[0] for v in between])),
        "change_between_rounds_outside": float(np.mean([v[1] for v in between])),
    }
    figures["leakage_outside"] = figures["render_change_outside"] - figures["previous_render_change_outside"]
    picks = evenly_spaced(len(renders), 4)
    preview = np.concatenate([np.concatenate([originals[i], targets[i], renders[i]], axis=1) for i in picks], axis=0)
    return RoundEvaluation(figures, preview)
