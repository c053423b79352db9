"""Training data of one video: frames, masks, camera, per-frame head pose and expression, the background plate."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from cosavatar_pipeline.face.geometry import matrix_to_axis_angle, mean_rotation
from cosavatar_pipeline.face.model import FaceModel
from cosavatar_pipeline.parsing import labels as L
from cosavatar_pipeline.parsing.labels import region_mask


@dataclass
class RayBatch:
    frame: torch.Tensor  # (R,) long
    pixels: torch.Tensor  # (R, 2) column, row
    rotation: torch.Tensor  # (R, 3, 3) head pose, world from canonical
    translation: torch.Tensor  # (R, 3) mm
    expression: torch.Tensor  # (R, K)
    pose_condition: torch.Tensor  # (R, 6)
    background: torch.Tensor  # (R, 3) in [0, 1]

    def to(self, device) -> "RayBatch":
        return RayBatch(**{k: v.to(device) for k, v in self.__dict__.items()})


@dataclass
class Targets:
    rgb: torch.Tensor  # (R, 3)
    person: torch.Tensor  # (R,) bool
    head: torch.Tensor  # (R,) bool
    head_valid: torch.Tensor  # (R,) bool: outside the ignore band

    def to(self, device) -> "Targets":
        return Targets(**{k: v.to(device) for k, v in self.__dict__.items()})


def pose_conditions(
    rotations: np.ndarray, translations: np.ndarray, reference: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """(N, 6): rotation vector of R R_mean^T and (t - t_mean) / 100 mm, the torso field's view of the head pose,
    relative to the mean of ``reference`` poses (default: these poses themselves)."""
    reference_rotations, reference_translations = reference or (rotations, translations)
    relative = rotations.astype(np.float64) @ mean_rotation(reference_rotations.astype(np.float64)).T
    offset = (translations - reference_translations.mean(axis=0)) / 100.0
    return np.concatenate([matrix_to_axis_angle(relative), offset], axis=1).astype(np.float32)


def head_box_from_identity(identity: np.ndarray) -> np.ndarray:
    """Canonical-space (min, max) around the face landmarks, grown to hold hair, the back of the head and the
    hair that falls below the chin (x right, y down, z away from the face)."""
    low, high = identity.min(axis=0), identity.max(axis=0)
    margin_low = np.array([45.0, 80.0, 20.0])  # sides, above the forehead, in front of the nose
    margin_high = np.array([45.0, 70.0, 140.0])  # sides, below the chin, behind the face
    return np.stack([low - margin_low, high + margin_high]).astype(np.float32)


def torso_box_in_camera(model: FaceModel, image_size: int) -> np.ndarray:
    """Camera-space (min, max): the whole view frustum around the head's depth, from above the head down."""
    depth = float(model.head_translation_world_from_canonical[:, 2].mean())
    half_width = (image_size / 2) / model.camera.focal_px * (depth + 250.0)
    head_y = float(model.head_translation_world_from_canonical[:, 1].mean())
    return np.array(
        [[-half_width, head_y - 60.0, depth - 200.0], [half_width, half_width, depth + 250.0]], dtype=np.float32
    )


class AvatarDataset:
    def __init__(
        self,
        frames: np.ndarray,
        label_maps: np.ndarray,
        plate: np.ndarray,
        face_model: FaceModel,
        expression_dims: int,
        holdout_every: int = 10,
    ):
        self.frames = np.asarray(frames)
        self.count, self.size = self.frames.shape[:2]
        self.camera = face_model.camera.rescaled(self.size)
        self.face_model = face_model
        labels = np.asarray(label_maps)
        self.person = region_mask(labels, "person")
        self.head = region_mask(labels, "head")
        # ignore band: hair below the chin, and a thin band around the head/torso border, where the split is a guess
        chin_rows = self._chin_rows(face_model)
        rows = np.arange(self.size)[None, :, None]
        low_hair = (labels == L.HAIR) & (rows > chin_rows[:, None, None])
        kernel = np.ones((3, 3), np.uint8)
        border = np.stack([cv2.dilate(h.astype(np.uint8), kernel) != cv2.erode(h.astype(np.uint8), kernel) for h in self.head])
        self.head_valid = self.person & ~low_hair & ~border
        self.plate = plate.astype(np.float32) / 255.0
        self.rotations = face_model.head_rotation_world_from_canonical.astype(np.float32)
        self.translations = face_model.head_translation_world_from_canonical.astype(np.float32)
        self.expressions = face_model.expression_codes[:, :expression_dims].astype(np.float32)
        self.pose_conditions = pose_conditions(face_model.head_rotation_world_from_canonical, face_model.head_translation_world_from_canonical)
        frame_ids = np.arange(self.count)
        self.holdout = frame_ids[frame_ids % holdout_every == holdout_every // 2] if holdout_every else frame_ids[:0]
        self.train = np.setdiff1d(frame_ids, self.holdout)
        train_person = self.person[self.train]
        self._person_pixels = np.flatnonzero(train_person)  # flat indices into (len(train), S, S)
        self.head_box = head_box_from_identity(face_model.identity)
        self.torso_box = torso_box_in_camera(face_model, self.size)

    def _chin_rows(self, face_model: FaceModel) -> np.ndarray:
        from cosavatar_pipeline.face.fitting import reproject

        return reproject(face_model)[:, 152, 1] * (self.size / face_model.camera.image_size)

    def rays_for(self, frame_ids: np.ndarray, pixels: np.ndarray, zero_appearance: bool = False) -> RayBatch:
        return RayBatch(
            frame=torch.from_numpy(frame_ids.astype(np.int64)),
            pixels=torch.from_numpy(pixels.astype(np.float32)),
            rotation=torch.from_numpy(self.rotations[frame_ids]),
            translation=torch.from_numpy(self.translations[frame_ids]),
            expression=torch.from_numpy(self.expressions[frame_ids]),
            pose_condition=torch.from_numpy(self.pose_conditions[frame_ids]),
            background=torch.from_numpy(self.plate[pixels[:, 1], pixels[:, 0]]),
        )

    def sample(self, rng: np.random.Generator, count: int, person_fraction: float) -> tuple[RayBatch, Targets]:
        person_count = int(count * person_fraction)
        picks = self._person_pixels[rng.integers(0, len(self._person_pixels), person_count)]
        uniform = rng.integers(0, len(self.train) * self.size * self.size, count - person_count)
        flat = np.concatenate([picks, uniform])
        train_index, rows, cols = np.unravel_index(flat, (len(self.train), self.size, self.size))
        frame_ids = self.train[train_index]
        pixels = np.stack([cols, rows], axis=1)
        rays = self.rays_for(frame_ids, pixels)
        targets = Targets(
            rgb=torch.from_numpy(self.frames[frame_ids, rows, cols].astype(np.float32) / 255.0),
            person=torch.from_numpy(self.person[frame_ids, rows, cols]),
            head=torch.from_numpy(self.head[frame_ids, rows, cols]),
            head_valid=torch.from_numpy(self.head_valid[frame_ids, rows, cols]),
        )
        return rays, targets

    def full_frame_pixels(self) -> np.ndarray:
        rows, cols = np.mgrid[0 : self.size, 0 : self.size]
        return np.stack([cols.ravel(), rows.ravel()], axis=1)
