"""`face_parsing`: a CelebAMask-HQ label map per frame."""

from pathlib import Path

import numpy as np

LABELS_FILE = "labels.npy"  # (N, S, S) uint8


def load_labels(folder: Path) -> np.ndarray:
    return np.load(Path(folder) / LABELS_FILE, mmap_mode="r")
