"""The parametric face model of one video, and how it is saved.

``shape(t) = identity + displacement(t)`` in canonical head space (millimetres, pupils 63 mm apart, x right,
y down, z forward, origin at the landmark centroid), with ``displacement(t) ≈ codes(t) @ basis`` (K components,
zero at the neutral frame), posed by ``X_cam = R(t) @ X + t(t)`` and seen by a pinhole camera.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cosavatar_pipeline.atomic import atomic_file
from cosavatar_pipeline.face.geometry import matrix_to_axis_angle

ARRAYS_FILE = "face_model.npz"
CAMERA_FILE = "face_model.json"
PER_FRAME_FILE = "per_frame.parquet"


@dataclass(frozen=True)
class Camera:
    focal_px: float
    principal_point: tuple[float, float]
    image_size: int
    field_of_view_deg: float

    def rescaled(self, image_size: int) -> "Camera":
        """The same camera for frames resampled to ``image_size`` pixels."""
        k = image_size / self.image_size
        cx, cy = self.principal_point
        return Camera(self.focal_px * k, (cx * k, cy * k), image_size, self.field_of_view_deg)


@dataclass
class FaceModel:
    camera: Camera
    head_rotation_world_from_canonical: np.ndarray  # (N, 3, 3)
    head_translation_world_from_canonical: np.ndarray  # (N, 3) mm
    identity: np.ndarray  # (478, 3) mm, the neutral canonical shape
    displacements: np.ndarray  # (N, 478, 3) mm, canonical, zero at the neutral frame
    expression_basis: np.ndarray  # (K, 478 * 3), orthonormal rows
    expression_codes: np.ndarray  # (N, K)
    neutral_frame: int

    @property
    def frame_count(self) -> int:
        return len(self.expression_codes)

    def shapes(self, codes: np.ndarray | None = None) -> np.ndarray:
        """(N, 478, 3) canonical shapes from expression codes (default: this video's own)."""
        codes = self.expression_codes if codes is None else codes
        return self.identity[None] + (codes @ self.expression_basis).reshape(len(codes), -1, 3)

    def save(self, folder: Path, per_frame: pd.DataFrame | None = None) -> list[str]:
        folder = Path(folder)
        with atomic_file(folder / ARRAYS_FILE) as handle:
            np.savez(
                handle,
                head_rotation_world_from_canonical=self.head_rotation_world_from_canonical.astype(np.float32),
                head_translation_world_from_canonical=self.head_translation_world_from_canonical.astype(np.float32),
                identity=self.identity.astype(np.float32),
                displacements=self.displacements.astype(np.float32),
                expression_basis=self.expression_basis.astype(np.float32),
                expression_codes=self.expression_codes.astype(np.float32),
            )
        with atomic_file(folder / CAMERA_FILE, "w") as handle:
            json.dump({"camera": asdict(self.camera), "neutral_frame": self.neutral_frame}, handle, indent=2)
        table = self.per_frame_table() if per_frame is None else per_frame
        table.to_parquet(folder / PER_FRAME_FILE, index=False)
        return [ARRAYS_FILE, CAMERA_FILE, PER_FRAME_FILE]

    def per_frame_table(self) -> pd.DataFrame:
        rotation_vectors = matrix_to_axis_angle(self.head_rotation_world_from_canonical)
        table = pd.DataFrame({"frame_index": np.arange(self.frame_count)})
        for axis, name in enumerate("xyz"):
            table[f"rotation_{name}"] = rotation_vectors[:, axis]
        for axis, name in enumerate("xyz"):
            table[f"translation_{name}_mm"] = self.head_translation_world_from_canonical[:, axis]
        table["expression_code_norm"] = np.linalg.norm(self.expression_codes, axis=1)
        for k in range(self.expression_codes.shape[1]):
            table[f"expression_{k:02d}"] = self.expression_codes[:, k]
        return table

    @classmethod
    def load(cls, folder: Path) -> "FaceModel":
        folder = Path(folder)
        meta = json.loads((folder / CAMERA_FILE).read_text())
        camera = meta["camera"]
        camera["principal_point"] = tuple(camera["principal_point"])
        with np.load(folder / ARRAYS_FILE) as arrays:
            return cls(
                camera=Camera(**camera), neutral_frame=meta["neutral_frame"], **{k: arrays[k] for k in arrays.files}
            )
