"""`avatar`: the NeRF of one video, trained on the four video stages below; its files are the checkpoint's
(``nerf/checkpoint.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cosavatar_pipeline.nerf.config import NerfConfig
from cosavatar_pipeline.nerf.dataset import AvatarDataset
from cosavatar_pipeline.stages.background_plate import load_plate
from cosavatar_pipeline.stages.face_coefficients import load_face_model
from cosavatar_pipeline.stages.face_parsing import load_labels
from cosavatar_pipeline.stages.frames import load_frames


@dataclass(frozen=True)
class AvatarInputs:
    """The stored partitions an avatar is trained from: one place to add an input to the avatar's data."""

    frames: Path
    face_coefficients: Path
    face_parsing: Path
    background_plate: Path
    fps: float
    preset: str

    def dataset(
        self, config: NerfConfig, training_frames: np.ndarray | None = None, training_labels: np.ndarray | None = None
    ) -> AvatarDataset:
        """The video's training data; ``training_frames`` / ``training_labels`` replace its frames and label maps
        (an edit round's targets)."""
        return AvatarDataset(
            frames=load_frames(self.frames, mmap=False) if training_frames is None else training_frames,
            label_maps=load_labels(self.face_parsing) if training_labels is None else training_labels,
            plate=load_plate(self.background_plate),
            face_model=load_face_model(self.face_coefficients),
            config=config,
            fps=self.fps,
        )
