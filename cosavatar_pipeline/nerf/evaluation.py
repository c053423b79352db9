"""Held-out evaluation: PSNR (full frame and inside the person mask), SSIM, and a preview strip."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosavatar_pipeline.nerf.dataset import AvatarDataset
from cosavatar_pipeline.nerf.metrics import psnr, ssim
from cosavatar_pipeline.nerf.model import AvatarModel
from cosavatar_pipeline.nerf.render import render_dataset_frames


@dataclass
class Evaluation:
    figures: dict[str, float]
    preview: np.ndarray  # rows of ground truth | render | depth


def depth_image(depth: np.ndarray, opacity: np.ndarray) -> np.ndarray:
    """Depth as grey levels over the opaque pixels (near = bright)."""
    solid = opacity > 0.5
    if not solid.any():
        return np.zeros((*depth.shape, 3), np.uint8)
    near, far = np.percentile(depth[solid], [2, 98])
    grey = np.where(solid, 1 - (depth - near) / max(far - near, 1e-6), 0).clip(0, 1)
    return np.repeat((grey * 255).astype(np.uint8)[..., None], 3, axis=2)


def evaluate_holdout(model: AvatarModel, dataset: AvatarDataset, preview_frames: int = 3) -> Evaluation:
    frame_ids = dataset.holdout
    rendered = render_dataset_frames(model, dataset, frame_ids, own_appearance=False)
    truth = dataset.frames[frame_ids]
    person = dataset.person[frame_ids]
    plate = (dataset.plate * 255 + 0.5).astype(np.uint8)
    figures = {
        "holdout_psnr": float(np.mean([psnr(r, t) for r, t in zip(rendered["rgb"], truth)])),
        "holdout_psnr_person": float(np.mean([psnr(r, t, m) for r, t, m in zip(rendered["rgb"], truth, person)])),
        "holdout_ssim": float(np.mean([ssim(r, t) for r, t in zip(rendered["rgb"], truth)])),
        "plate_psnr": float(np.mean([psnr(np.broadcast_to(plate, t.shape), t) for t in truth])),
        "holdout_frames": float(len(frame_ids)),
    }
    picks = np.linspace(0, len(frame_ids) - 1, min(preview_frames, len(frame_ids))).round().astype(int)
    rows = [np.concatenate([truth[i], rendered["rgb"][i], depth_image(rendered["depth"][i], rendered["opacity"][i])], axis=1) for i in picks]
    return Evaluation(figures, np.concatenate(rows, axis=0))
