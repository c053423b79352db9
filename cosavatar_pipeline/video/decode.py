"""Frame decoding with decord and constant-rate resampling of (possibly variable-rate) source timestamps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from cosavatar_pipeline.errors import InputError


class VideoFrames:
    """Random access to a video's RGB frames and their presentation timestamps (decord)."""

    def __init__(self, path: Path, label: str | None = None):
        import decord

        self.path = Path(path)
        self.label = label or str(self.path)  # how errors name the file: the user's original, not a store copy
        try:
            self._reader = decord.VideoReader(str(self.path), ctx=decord.cpu(0), num_threads=1)
            self.frame_count = len(self._reader)
            # (N, 2) start / end seconds of each frame, from the container's timestamps
            self.timestamps = np.asarray(
                self._reader.get_frame_timestamp(np.arange(self.frame_count)), dtype=np.float64
            )
        except decord.DECORDError as exc:
            raise InputError(self.label, f"cannot be decoded ({str(exc).splitlines()[0]})") from None
        if self.frame_count == 0:
            raise InputError(self.label, "contains no video frames")

    @property
    def duration_s(self) -> float:
        return float(self.timestamps[-1, 1] - self.timestamps[0, 0])

    def get(self, indices: np.ndarray) -> np.ndarray:
        """(len(indices), H, W, 3) uint8 RGB."""
        import decord

        try:
            return self._reader.get_batch(list(map(int, indices))).asnumpy()
        except decord.DECORDError as exc:
            raise InputError(self.label, f"frames {indices[0]}..{indices[-1]} cannot be decoded ({exc})") from None

    def iter_batches(self, indices: np.ndarray, batch_size: int = 32) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            yield chunk, self.get(chunk)


def constant_rate_source_indices(frame_start_times: np.ndarray, duration_s: float, fps: float) -> np.ndarray:
    """For output frames at t_j = j / fps, the index of the source frame shown at t_j.

    The source frame shown at time t is the last one whose start time is <= t, which handles variable frame
    rates, duplicated and dropped frames alike. Output covers [0, duration) of the clip.
    """
    starts = np.asarray(frame_start_times, dtype=np.float64) - float(frame_start_times[0])
    output_count = max(1, int(np.floor(duration_s * fps + 1e-3)))
    output_times = np.arange(output_count) / fps
    indices = np.searchsorted(starts, output_times + 1e-6, side="right") - 1
    return np.clip(indices, 0, len(starts) - 1)
