"""`frames`: the face-centred square crop at the preset's size and a constant frame rate."""

from pathlib import Path

import numpy as np

FRAMES_FILE = "frames.npy"  # (N, S, S, 3) uint8
TIMESTAMPS_FILE = "timestamps.parquet"  # frame_index, time_s, source_frame_index, source_time_s


def load_frames(folder: Path, mmap: bool = True) -> np.ndarray:
    return np.load(Path(folder) / FRAMES_FILE, mmap_mode="r" if mmap else None)
