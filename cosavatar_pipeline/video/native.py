"""The source video's own frames (upright, full size) on the pipeline's constant-rate timeline, streamed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from cosavatar_pipeline.errors import InputError
from cosavatar_pipeline.video.decode import VideoFrames

NATIVE_BATCH = 4  # source frames decoded at once: 4 × 1080 × 1920 × 3 is 25 MB


def native_frames(
    source: Path, source_indices: np.ndarray, label: str | None = None, batch_size: int = NATIVE_BATCH
) -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 frames of ``source``, one for each output frame: ``source_indices`` (non-decreasing, as
    ``timestamps.parquet``'s ``source_frame_index``) names the source frame each shows. Each source frame is decoded
    once; at most ``batch_size`` are held at a time. A frame that cannot be decoded is an InputError naming the
    file (``label``) and the frame."""
    video = VideoFrames(source, label=label)
    indices = np.asarray(source_indices, dtype=np.int64)
    if len(indices) and indices[-1] >= video.frame_count:
        first_missing = int(np.argmax(indices >= video.frame_count))
        raise InputError(
            video.label,
            f"output frame {first_missing} needs source frame {indices[first_missing]}, but only "
            f"{video.frame_count} decode (the file is shorter than when its frames were extracted)",
        )
    unique, counts = np.unique(indices, return_counts=True)
    for start in range(0, len(unique), batch_size):
        chunk = unique[start : start + batch_size]
        batch = video.get(chunk)
        if len(batch) != len(chunk):
            raise InputError(video.label, f"source frames {chunk[0]}..{chunk[-1]}: only {len(batch)} decoded")
        for frame, repeat in zip(batch, counts[start : start + batch_size]):
            for _ in range(repeat):
                yield frame
