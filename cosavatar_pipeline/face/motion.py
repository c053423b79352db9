"""Driving motion (what one video gives to drive another avatar) and retargeting onto a target's face model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cosavatar_pipeline.atomic import atomic_file
from cosavatar_pipeline.face.geometry import mean_rotation
from cosavatar_pipeline.face.model import FaceModel

MOTION_FILE = "driving_motion.npz"


@dataclass
class DrivingMotion:
    """Per frame: canonical, scale-normalised (pupils 63 mm apart) displacements from the driver's neutral shape,
    and head pose relative to the clip's mean pose (``R = R_rel @ R_mean``, ``t = t_mean + t_rel``)."""

    displacements: np.ndarray  # (N, 478, 3) mm
    relative_rotation: np.ndarray  # (N, 3, 3)
    relative_translation: np.ndarray  # (N, 3) mm, camera axes

    @classmethod
    def from_face_model(cls, model: FaceModel) -> "DrivingMotion":
        rotations = model.head_rotation_world_from_canonical
        mean = mean_rotation(rotations)
        translations = model.head_translation_world_from_canonical
        return cls(
            displacements=model.displacements,
            relative_rotation=rotations @ mean.T,
            relative_translation=translations - translations.mean(axis=0),
        )

    def save(self, folder: Path) -> str:
        with atomic_file(Path(folder) / MOTION_FILE) as handle:
            np.savez(
                handle,
                displacements=self.displacements.astype(np.float32),
                relative_rotation=self.relative_rotation.astype(np.float32),
                relative_translation=self.relative_translation.astype(np.float32),
            )
        return MOTION_FILE

    @classmethod
    def load(cls, folder: Path) -> "DrivingMotion":
        with np.load(Path(folder) / MOTION_FILE) as arrays:
            return cls(**{k: arrays[k].astype(np.float64) for k in arrays.files})


def retarget(motion: DrivingMotion, target: FaceModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The driver's motion as the target's parameters: (expression codes (N, K), rotations (N, 3, 3), translations (N, 3)).

    Expressions: the driver's displacements projected on the target's expression basis (both live in the same
    canonical, scale-normalised space). Pose: the driver's pose relative to its mean, applied around the target's
    mean pose.
    """
    count = len(motion.displacements)
    codes = motion.displacements.reshape(count, -1) @ target.expression_basis.T
    target_rotations = target.head_rotation_world_from_canonical
    rotations = motion.relative_rotation @ mean_rotation(target_rotations)
    translations = target.head_translation_world_from_canonical.mean(axis=0) + motion.relative_translation
    return codes, rotations, translations


def clamp_codes(codes: np.ndarray, reference: np.ndarray, margin: float = 0.1) -> tuple[np.ndarray, float]:
    """Clip each expression component to the range the target's own video covers (plus ``margin`` of that range).

    An avatar has only seen the target's expressions: codes far outside them (a driver's yawn on a talking clip)
    make it extrapolate, which shows as colour shifts and speckle, not as a wider mouth. Returns the clipped codes
    and the fraction of values that were clipped."""
    low, high = reference.min(axis=0), reference.max(axis=0)
    span = high - low
    clipped = np.clip(codes, low - margin * span, high + margin * span)
    return clipped, float((clipped != codes).mean())
