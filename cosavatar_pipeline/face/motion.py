"""Driving motion (what one video gives to drive another avatar) and retargeting onto a target's face model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cosavatar_pipeline.atomic import atomic_file
from cosavatar_pipeline.face import landmarks as lm
from cosavatar_pipeline.face.canonical import NOSE_TIP
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
    identity: np.ndarray | None = None  # (478, 3) mm, the driver's neutral shape (None in motions saved before it)

    @classmethod
    def from_face_model(cls, model: FaceModel) -> "DrivingMotion":
        rotations = model.head_rotation_world_from_canonical
        mean = mean_rotation(rotations)
        translations = model.head_translation_world_from_canonical
        return cls(
            displacements=model.displacements,
            relative_rotation=rotations @ mean.T,
            relative_translation=translations - translations.mean(axis=0),
            identity=model.identity,
        )

    def save(self, folder: Path) -> str:
        with atomic_file(Path(folder) / MOTION_FILE) as handle:
            np.savez(
                handle,
                displacements=self.displacements.astype(np.float32),
                relative_rotation=self.relative_rotation.astype(np.float32),
                relative_translation=self.relative_translation.astype(np.float32),
                **({} if self.identity is None else {"identity": self.identity.astype(np.float32)}),
            )
        return MOTION_FILE

    @classmethod
    def load(cls, folder: Path) -> "DrivingMotion":
        with np.load(Path(folder) / MOTION_FILE) as arrays:
            return cls(**{k: arrays[k].astype(np.float64) for k in arrays.files})


def face_proportions(identity: np.ndarray) -> np.ndarray:
    """(478, 3) neutral shape -> (3,) mm: width (outer eye corners), height (nose tip to chin), depth (1)."""
    width = np.linalg.norm(identity[lm.OUTER_EYE_CORNERS[0]] - identity[lm.OUTER_EYE_CORNERS[1]])
    height = np.linalg.norm(identity[NOSE_TIP] - identity[lm.CHIN])
    return np.array([width, height, 1.0])


@dataclass
class RetargetedMotion:
    """A driver's motion as a target's parameters, frame by frame."""

    displacements: np.ndarray  # (N, 478, 3) mm on the target's face (the warp reads these)
    codes: np.ndarray  # (N, K) the displacements projected on the target's expression basis
    rotations: np.ndarray  # (N, 3, 3)
    translations: np.ndarray  # (N, 3) mm
    scale: np.ndarray  # (3,) per-axis factor from the driver's face to the target's


def retarget(motion: DrivingMotion, target: FaceModel) -> RetargetedMotion:
    """Expressions: the driver's change from its own neutral, scaled per axis by the ratio of the two faces'
    proportions (a longer chin opens further), projected on the target's expression basis (both live in the same
    canonical space, pupils 63 mm apart). Pose: the driver's pose relative to its mean, applied around the
    target's mean pose. Motions saved without the driver's identity are not scaled."""
    count = len(motion.displacements)
    scale = (
        np.ones(3) if motion.identity is None else face_proportions(target.identity) / face_proportions(motion.identity)
    )
    scale[2] = 1.0
    displacements = motion.displacements * scale
    codes = displacements.reshape(count, -1) @ target.expression_basis.T
    rotations = motion.relative_rotation @ mean_rotation(target.head_rotation_world_from_canonical)
    translations = target.head_translation_world_from_canonical.mean(axis=0) + motion.relative_translation
    return RetargetedMotion(displacements, codes, rotations, translations, scale)


def clamp_codes(codes: np.ndarray, reference: np.ndarray, margin: float = 0.1) -> tuple[np.ndarray, float]:
    """Clip each expression component to the range the target's own video covers (plus ``margin`` of that range).

    An avatar has only seen the target's expressions: codes far outside them (a driver's yawn on a talking clip)
    make it extrapolate, which shows as colour shifts and speckle, not as a wider mouth. Returns the clipped codes
    and the fraction of values that were clipped."""
    low, high = reference.min(axis=0), reference.max(axis=0)
    span = high - low
    clipped = np.clip(codes, low - margin * span, high + margin * span)
    return clipped, float((clipped != codes).mean())
