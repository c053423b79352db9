"""`frames`: the face-centred square crop at the preset's size and a constant frame rate."""

from pathlib import Path

import numpy as np
import pandas as pd

FRAMES_FILE = "frames.npy"  # (N, S, S, 3) uint8
TIMESTAMPS_FILE = "timestamps.parquet"  # frame_index, time_s, source_frame_index, source_time_s


def load_frames(folder: Path, mmap: bool = True) -> np.ndarray:
    return np.load(Path(folder) / FRAMES_FILE, mmap_mode="r" if mmap else None)


def load_source_indices(folder: Path) -> np.ndarray:
    """(N,) int64: the source frame each output frame shows."""
    return pd.read_parquet(Path(folder) / TIMESTAMPS_FILE, columns=["source_frame_index"])[
        "source_frame_index"
    ].to_numpy()
