"""Reenactment: an avatar driven by another person's motion, and whether the render follows it while still
looking like the target."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cosavatar_pipeline.face import landmarks as lm
from cosavatar_pipeline.face.fitting import FitConfig, fit_face_model
from cosavatar_pipeline.face.geometry import rigid_align
from cosavatar_pipeline.face.landmarks import MIN_TRACKED_RATIO, track_landmarks
from cosavatar_pipeline.face.model import FaceModel
from cosavatar_pipeline.face.motion import DrivingMotion, clamp_codes, retarget
from cosavatar_pipeline.nerf.dataset import AvatarDataset
from cosavatar_pipeline.nerf.deformation import warp_offsets
from cosavatar_pipeline.nerf.model import AvatarModel
from cosavatar_pipeline.nerf.render import render_frames
from cosavatar_pipeline.render.expression import expression_figures


@dataclass(frozen=True)
class DriveSettings:
    # the residual's codes stay inside the range the target's video covers (the avatar never saw more); the warp
    # follows the landmarks unclipped
    clamp_to_target_range: bool = True
    clamp_margin: float = 0.1


@dataclass
class Reenactment:
    rgb: np.ndarray  # (N, S, S, 3) uint8
    figures: dict[str, float]  # how the motion was mapped: clipped fraction, per-axis scale
    mouth_scale: float  # the driver's vertical motion scaled to the target's face


def drive_avatar(
    model: AvatarModel,
    dataset: AvatarDataset,
    motion: DrivingMotion,
    target: FaceModel,
    settings: DriveSettings = DriveSettings(),
    progress: Callable[[int, int], None] | None = None,
) -> Reenactment:
    """Render ``model`` (of ``target``'s video, whose training data is ``dataset``) with the driver's motion."""
    moved = retarget(motion, target)
    codes = moved.codes[:, : dataset.expressions.shape[1]]
    clipped = 0.0
    if settings.clamp_to_target_range:
        codes, clipped = clamp_codes(codes, dataset.expressions, settings.clamp_margin)
    offsets = warp_offsets(moved.displacements, dataset.warp_landmarks)
    rgb = render_frames(model, dataset, codes, moved.rotations, moved.translations, offsets, progress=progress)["rgb"]
    figures = {
        "clamped_code_fraction": clipped,
        "retarget_scale_x": float(moved.scale[0]),
        "retarget_scale_y": float(moved.scale[1]),
    }
    return Reenactment(rgb, figures, float(moved.scale[1] / moved.scale[0]))


def identity_drift_pct(rendered: np.ndarray, motion: DrivingMotion, target: FaceModel) -> dict[str, float]:
    """The neutral shape re-detected and fitted on the render vs the target's identity, after rigid alignment, in
    % of the target's inter-ocular distance. The re-detected sequence is fitted with its neutral frame set to the
    driver's (where the driver's displacement is smallest). NaN when the face tracks in under half the frames."""
    neutral = int(np.argmin(np.linalg.norm(motion.displacements, axis=-1).mean(axis=1)))
    track = track_landmarks(rendered, label="reenacted frames", min_tracked_ratio=0.0)
    if track.tracked_ratio < MIN_TRACKED_RATIO or not track.tracked[neutral]:
        return {"identity_drift_pct": float("nan"), "reenacted_tracked_ratio": track.tracked_ratio}
    fitted = fit_face_model(track, rendered.shape[1], FitConfig(neutral_frame=neutral)).model
    iod = float(np.linalg.norm(target.identity[lm.OUTER_EYE_CORNERS[0]] - target.identity[lm.OUTER_EYE_CORNERS[1]]))
    rotation, translation = rigid_align(fitted.identity, target.identity)
    aligned = fitted.identity @ rotation.T + translation
    return {
        "identity_drift_pct": float(np.linalg.norm(aligned - target.identity, axis=-1).mean() / iod * 100),
        "reenacted_tracked_ratio": float(track.tracked_ratio),
    }


def reenactment_figures(
    reenactment: Reenactment, driver_frames: np.ndarray, motion: DrivingMotion, target: FaceModel
) -> dict[str, float]:
    """Expression figures of the render against the driver's own frames (its mouth signal scaled to the target's
    face), identity drift, and how the motion was mapped."""
    count = len(reenactment.rgb)
    return {
        **expression_figures(reenactment.rgb, driver_frames[:count], reference_scale=reenactment.mouth_scale),
        **identity_drift_pct(reenactment.rgb, motion, target),
        **reenactment.figures,
    }
