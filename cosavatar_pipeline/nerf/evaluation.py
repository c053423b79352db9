"""Held-out evaluation, on two kinds of held-out frames: interleaved (every n-th: interpolation between seen
expressions) and one contiguous segment (new expressions). PSNR on the full frame, the person and a box around
lips and jaw; SSIM; on the segment, how far its openings go beyond the training frames' (and the mouth box apart
over the frames within and beyond them) and whether the render's mouth and eyes follow the source's; a preview
strip."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosavatar_pipeline.nerf.dataset import AvatarDataset
from cosavatar_pipeline.nerf.holdout import within_training_openings
from cosavatar_pipeline.nerf.metrics import psnr, ssim
from cosavatar_pipeline.nerf.model import AvatarModel
from cosavatar_pipeline.nerf.render import render_dataset_frames
from cosavatar_pipeline.render.expression import expression_figures


@dataclass
class Evaluation:
    figures: dict[str, float]
    preview: np.ndarray  # rows of ground truth | render | depth
    segment: np.ndarray  # (S, size, size, 3) uint8 renders of the contiguous segment's frames (S may be 0)


def depth_image(depth: np.ndarray, opacity: np.ndarray) -> np.ndarray:
    """Depth as grey levels over the opaque pixels (near = bright)."""
    solid = opacity > 0.5
    if not solid.any():
        return np.zeros((*depth.shape, 3), np.uint8)
    near, far = np.percentile(depth[solid], [2, 98])
    grey = np.where(solid, 1 - (depth - near) / max(far - near, 1e-6), 0).clip(0, 1)
    return np.repeat((grey * 255).astype(np.uint8)[..., None], 3, axis=2)


def box_mask(box: np.ndarray, size: int) -> np.ndarray:
    x0, y0, x1, y1 = box
    mask = np.zeros((size, size), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def mouth_psnrs(rendered: np.ndarray, dataset: AvatarDataset, frame_ids: np.ndarray) -> np.ndarray:
    """(F,) PSNR inside each frame's box around lips and jaw; rendered (F, S, S, 3) uint8."""
    boxes = [box_mask(dataset.mouth_boxes[i], dataset.size) for i in frame_ids]
    return np.array([psnr(r, dataset.frames[i], box) for r, i, box in zip(rendered, frame_ids, boxes)])


def segment_reach_figures(rendered: np.ndarray, dataset: AvatarDataset) -> dict[str, float]:
    """How far the segment's openings go beyond the training frames' widest (a ratio), and the mouth-box PSNR apart
    over the segment frames within that range and those beyond it (each only when it has frames)."""
    frame_ids = dataset.holdout_segment
    widest_training = max(float(dataset.mouth_open[dataset.train].max()), 1e-9)
    figures = {"segment_opening_over_training": float(dataset.mouth_open[frame_ids].max()) / widest_training}
    within = within_training_openings(dataset.mouth_open, dataset.train, frame_ids)
    scores = mouth_psnrs(rendered, dataset, frame_ids)
    for name, picks in (("within_training", within), ("beyond_training", ~within)):
        if picks.any():
            figures[f"segment_psnr_mouth_{name}"] = float(scores[picks].mean())
            figures[f"segment_frames_{name}"] = float(picks.sum())
    return figures


def psnr_figures(rendered: np.ndarray, dataset: AvatarDataset, frame_ids: np.ndarray, prefix: str) -> dict[str, float]:
    truth = dataset.frames[frame_ids]
    return {
        f"{prefix}_psnr": float(np.mean([psnr(r, t) for r, t in zip(rendered, truth)])),
        f"{prefix}_psnr_person": float(
            np.mean([psnr(r, t, m) for r, t, m in zip(rendered, truth, dataset.person[frame_ids])])
        ),
        f"{prefix}_psnr_mouth": float(mouth_psnrs(rendered, dataset, frame_ids).mean()),
        f"{prefix}_frames": float(len(frame_ids)),
    }


def evaluate_holdout(
    model: AvatarModel, dataset: AvatarDataset, preview_frames: int = 3, expression: bool = True
) -> Evaluation:
    """``holdout_*``: the interleaved frames; ``segment_*``: the contiguous segment, with its expression figures
    (``segment_mouth_r``, ``segment_mouth_gain``, ...) when ``expression``."""
    frame_ids = dataset.holdout
    rendered = render_dataset_frames(model, dataset, frame_ids, own_appearance=False)
    by_frame = dict(zip(frame_ids.tolist(), rendered["rgb"]))
    interleaved = np.stack([by_frame[i] for i in dataset.holdout_interleaved])
    truth = dataset.frames[dataset.holdout_interleaved]
    plate = (dataset.plate * 255 + 0.5).astype(np.uint8)
    figures = {
        **psnr_figures(interleaved, dataset, dataset.holdout_interleaved, "holdout"),
        "holdout_ssim": float(np.mean([ssim(r, t) for r, t in zip(interleaved, truth)])),
        "plate_psnr": float(np.mean([psnr(np.broadcast_to(plate, t.shape), t) for t in truth])),
    }
    segment = rendered["rgb"][np.isin(frame_ids, dataset.holdout_segment)]  # both sorted: the segment's order
    if len(segment):
        figures.update(psnr_figures(segment, dataset, dataset.holdout_segment, "segment"))
        figures.update(segment_reach_figures(segment, dataset))
        if expression:
            own = expression_figures(segment, dataset.frames[dataset.holdout_segment])
            figures.update({f"segment_{name}": value for name, value in own.items()})
    picks = np.linspace(0, len(frame_ids) - 1, min(preview_frames, len(frame_ids))).round().astype(int)
    rows = [
        np.concatenate(
            [
                dataset.frames[frame_ids[i]],
                rendered["rgb"][i],
                depth_image(rendered["depth"][i], rendered["opacity"][i]),
            ],
            axis=1,
        )
        for i in picks
    ]
    return Evaluation(figures, np.concatenate(rows, axis=0), segment)
