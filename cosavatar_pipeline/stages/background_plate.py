"""`background_plate`: the clip's background with the person removed."""

from pathlib import Path

import numpy as np

PLATE_FILE = "plate.npy"  # (S, S, 3) uint8
NEVER_SEEN_FILE = "never_seen.npy"  # (S, S) bool: background the person always covered
PLATE_PNG = "plate.png"


def load_plate(folder: Path) -> np.ndarray:
    return np.load(Path(folder) / PLATE_FILE)
