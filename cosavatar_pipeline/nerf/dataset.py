"""Training data of one video: frames, masks, camera, per-frame head pose and expression, the background plate."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from cosavatar_pipeline.face import landmarks as lm
from cosavatar_pipeline.face.geometry import matrix_to_axis_angle, mean_rotation
from cosavatar_pipeline.face.model import FaceModel
from cosavatar_pipeline.nerf import cavity, deformation
from cosavatar_pipeline.nerf.config import NerfConfig
from cosavatar_pipeline.nerf.holdout import contiguous_segment, interleaved
from cosavatar_pipeline.parsing import labels as L
from cosavatar_pipeline.parsing.labels import region_mask


@dataclass
class RayBatch:
    frame: torch.Tensor  # (R,) long
    pixels: torch.Tensor  # (R, 2) column, row
    rotation: torch.Tensor  # (R, 3, 3) head pose, world from canonical
    translation: torch.Tensor  # (R, 3) mm
    expression: torch.Tensor  # (R, K) raw codes (the model whitens them)
    warp_index: torch.Tensor  # (R,) long: the ray's frame in the WarpFields it is rendered with
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
    weight: torch.Tensor  # (R,) photometric weight (mouth-box rays weigh more)

    def to(self, device) -> "Targets":
        return Targets(**{k: v.to(device) for k, v in self.__dict__.items()})


MIN_OPEN_MOUTH_RATIO = 0.1  # inner-lip gap over the inter-ocular distance: lips clearly apart


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


def supported_components(codes: np.ndarray, variance: float, limit: int) -> int:
    """The fewest leading components (at least 4, at most ``limit``) explaining ``variance`` of the codes' spread:
    the rest is landmark jitter, which would let the code act as a frame id."""
    energy = codes.astype(np.float64).var(axis=0)[:limit]
    share = np.cumsum(energy) / max(energy.sum(), 1e-12)
    return int(min(limit, max(4, np.searchsorted(share, variance) + 1)))


def mouth_boxes(points_2d: np.ndarray, image_size: int) -> np.ndarray:
    """(N, 478, 2) pixels -> (N, 4) int boxes (x0, y0, x1, y1), exclusive ends, around lips and jaw with a margin
    of a fifth of the inter-ocular distance."""
    ids = np.union1d(deformation.region_points("lips"), [lm.CHIN])
    margin = 0.2 * lm.inter_ocular_px(points_2d)[:, None]
    low = np.floor(points_2d[:, ids].min(axis=1) - margin)
    high = np.ceil(points_2d[:, ids].max(axis=1) + margin)
    boxes = np.concatenate([low, high], axis=1).clip(0, image_size).astype(np.int64)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    return boxes


class AvatarDataset:
    def __init__(
        self,
        frames: np.ndarray,
        label_maps: np.ndarray,
        plate: np.ndarray,
        face_model: FaceModel,
        config: NerfConfig,
        fps: float | None = None,
    ):
        """fps: the frames' rate, for the contiguous hold-out segment (none without it)."""
        self.frames = np.asarray(frames)
        self.fps = fps
        self.count, self.size = self.frames.shape[:2]
        self.camera = face_model.camera.rescaled(self.size)
        self.face_model = face_model
        labels = np.asarray(label_maps)
        self.person = region_mask(labels, "person")
        self.head = region_mask(labels, "head")
        # ignore band: hair below the chin, and a thin band around the head/torso border, where the split is a guess
        self.landmarks_2d = self._reprojected(face_model)
        chin_rows = self.landmarks_2d[:, lm.CHIN, 1]
        rows = np.arange(self.size)[None, :, None]
        low_hair = (labels == L.HAIR) & (rows > chin_rows[:, None, None])
        kernel = np.ones((3, 3), np.uint8)
        border = np.stack(
            [cv2.dilate(h.astype(np.uint8), kernel) != cv2.erode(h.astype(np.uint8), kernel) for h in self.head]
        )
        self.head_valid = self.person & ~low_hair & ~border
        self.plate = plate.astype(np.float32) / 255.0
        self.rotations = face_model.head_rotation_world_from_canonical.astype(np.float32)
        self.translations = face_model.head_translation_world_from_canonical.astype(np.float32)
        self.pose_conditions = pose_conditions(
            face_model.head_rotation_world_from_canonical, face_model.head_translation_world_from_canonical
        )
        self.mouth_open = lm.mouth_open_ratio(self.landmarks_2d)
        segment_length = int(round(config.holdout_segment_seconds * fps)) if fps else 0
        self.holdout_segment = contiguous_segment(self.mouth_open, segment_length)
        self.holdout_interleaved = np.setdiff1d(interleaved(self.count, config.holdout_every), self.holdout_segment)
        self.holdout = np.union1d(self.holdout_interleaved, self.holdout_segment)
        self.train = np.setdiff1d(np.arange(self.count), self.holdout)
        codes = face_model.expression_codes[:, : config.expression_dims]
        if config.expression_control == "landmark_warp":
            codes = codes[
                :, : supported_components(codes[self.train], config.expression_variance, config.expression_dims)
            ]
        self.expressions = codes.astype(np.float32)
        self.warp_landmarks = deformation.warp_landmarks(face_model.identity)
        self.warp_offsets = deformation.warp_offsets(face_model.displacements, self.warp_landmarks)
        self._warp_fields: dict[str, deformation.WarpFields] = {}
        self._person_pixels = np.flatnonzero(self.person[self.train])  # flat indices into (len(train), S, S)
        self.mouth_boxes = mouth_boxes(self.landmarks_2d, self.size)
        # open mouths are rare in a talking clip: draw mouth-box frames with odds rising with the opening (1x-5x)
        opening = self.mouth_open[self.train] - self.mouth_open[self.train].min()
        odds = 1.0 + 4.0 * opening / max(float(opening.max()), 1e-9)
        self._mouth_frame_odds = odds / odds.sum()
        self.config = config
        self.head_box = head_box_from_identity(face_model.identity)
        self.torso_box = torso_box_in_camera(face_model, self.size)

    def _reprojected(self, face_model: FaceModel) -> np.ndarray:
        """(N, 478, 2) the fitted landmarks in pixels of these frames."""
        from cosavatar_pipeline.face.fitting import reproject

        return reproject(face_model) * (self.size / face_model.camera.image_size)

    def rays_for(self, frame_ids: np.ndarray, pixels: np.ndarray, zero_appearance: bool = False) -> RayBatch:
        return RayBatch(
            frame=torch.from_numpy(frame_ids.astype(np.int64)),
            pixels=torch.from_numpy(pixels.astype(np.float32)),
            rotation=torch.from_numpy(self.rotations[frame_ids]),
            translation=torch.from_numpy(self.translations[frame_ids]),
            expression=torch.from_numpy(self.expressions[frame_ids]),
            warp_index=torch.from_numpy(frame_ids.astype(np.int64)),
            pose_condition=torch.from_numpy(self.pose_conditions[frame_ids]),
            background=torch.from_numpy(self.plate[pixels[:, 1], pixels[:, 0]]),
        )

    def warp_fields(self, offsets: np.ndarray) -> deformation.WarpFields:
        """(F, L, 3) warp offsets (``warp_offsets`` rows or a retargeted motion's) -> their fields, with the mouth
        cavity and the eyelids' fine field when the config has them."""
        neutral = self.face_model.identity[self.warp_landmarks]
        ring = cavity.ring_positions(self.warp_landmarks)
        seen = self.warp_offsets[self.train]
        lids = deformation.Eyelids.among(self.warp_landmarks) if self.config.eyelid_field else None
        return deformation.WarpFields.build(neutral, offsets, ring, self.config.mouth_cavity_mm, seen, lids)

    def warp_fields_on(self, device) -> deformation.WarpFields:
        """The warp fields of every frame (built on first use), on ``device``; ``RayBatch.warp_index`` = frame id."""
        key = str(device)
        if key not in self._warp_fields:
            self._warp_fields[key] = self.warp_fields(self.warp_offsets).to(device)
        return self._warp_fields[key]

    def mouth_interior_rgb(self) -> np.ndarray:
        """(3,) in [0, 1]: the inside of this person's open mouth, the mean of the darker half of the pixels inside
        the inner lips over the training frames that open them (a dark red when none does)."""
        ring = list(cavity.INNER_LIP_RING)
        inside = []
        for frame in self.train[self.mouth_open[self.train] >= MIN_OPEN_MOUTH_RATIO]:
            mask = np.zeros((self.size, self.size), np.uint8)
            cv2.fillPoly(mask, [np.round(self.landmarks_2d[frame, ring]).astype(np.int32)], 1)
            inside.append(self.frames[frame][mask.astype(bool)])
        pixels = np.concatenate(inside) if inside else np.zeros((0, 3))
        if len(pixels) < 16:
            return np.array([0.25, 0.08, 0.08], np.float32)
        luminance = pixels @ np.array([0.299, 0.587, 0.114])
        return (pixels[luminance <= np.median(luminance)].mean(axis=0) / 255.0).astype(np.float32)

    def _mouth_box_pixels(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``count`` (frame id, row, col) uniformly inside training frames' mouth boxes, open mouths drawn more."""
        frame_ids = self.train[rng.choice(len(self.train), count, p=self._mouth_frame_odds)]
        x0, y0, x1, y1 = self.mouth_boxes[frame_ids].T
        cols = x0 + (rng.random(count) * (x1 - x0)).astype(np.int64)
        rows = y0 + (rng.random(count) * (y1 - y0)).astype(np.int64)
        return frame_ids, rows, cols

    def sample(
        self, rng: np.random.Generator, count: int, person_fraction: float, mouth_fraction: float = 0.0
    ) -> tuple[RayBatch, Targets]:
        mouth_count = int(count * mouth_fraction)
        person_count = (
            int(count * person_fraction) - mouth_count
        )  # mouth rays are person rays: the background keeps its share
        picks = self._person_pixels[rng.integers(0, len(self._person_pixels), person_count)]
        uniform = rng.integers(0, len(self.train) * self.size * self.size, count - person_count - mouth_count)
        flat = np.concatenate([picks, uniform])
        train_index, rows, cols = np.unravel_index(flat, (len(self.train), self.size, self.size))
        mouth_frames, mouth_rows, mouth_cols = self._mouth_box_pixels(rng, mouth_count)
        frame_ids = np.concatenate([self.train[train_index], mouth_frames])
        rows, cols = np.concatenate([rows, mouth_rows]), np.concatenate([cols, mouth_cols])
        weight = np.ones(len(frame_ids), np.float32)
        weight[len(flat) :] = self.config.mouth_loss_weight
        pixels = np.stack([cols, rows], axis=1)
        rays = self.rays_for(frame_ids, pixels)
        targets = Targets(
            rgb=torch.from_numpy(self.frames[frame_ids, rows, cols].astype(np.float32) / 255.0),
            person=torch.from_numpy(self.person[frame_ids, rows, cols]),
            head=torch.from_numpy(self.head[frame_ids, rows, cols]),
            head_valid=torch.from_numpy(self.head_valid[frame_ids, rows, cols]),
            weight=torch.from_numpy(weight),
        )
        return rays, targets

    def full_frame_pixels(self) -> np.ndarray:
        rows, cols = np.mgrid[0 : self.size, 0 : self.size]
        return np.stack([cols.ravel(), rows.ravel()], axis=1)
