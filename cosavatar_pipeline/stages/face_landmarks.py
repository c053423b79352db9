"""`face_landmarks`: FaceMesh's 478 points per frame and which frames tracked."""

from pathlib import Path

import numpy as np
import pandas as pd

from cosavatar_pipeline.face.landmarks import LandmarkTrack

LANDMARKS_FILE = "landmarks.npy"  # (N, 478, 3) pixels of the frames
TRACKING_FILE = "tracking.parquet"  # per frame: tracked, detection_score


def load_landmarks(folder: Path) -> np.ndarray:
    return np.load(Path(folder) / LANDMARKS_FILE)


def load_track(folder: Path) -> LandmarkTrack:
    table = pd.read_parquet(Path(folder) / TRACKING_FILE)
    return LandmarkTrack(
        points=load_landmarks(folder),
        tracked=table["tracked"].to_numpy(),
        detection_score=table["detection_score"].to_numpy(),
    )
