"""The source video's own frames (upright, full size) on the pipeline's constant-rate timeline, streamed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from cosavatar_pipeline.errors import InputError
from cosavatar_pipeline.video.planes import I420
from cosavatar_pipeline.video.probe import display_rotation


@dataclass(frozen=True)
class NativeFrame:
    rgb: np.ndarray  # (H, W, 3) uint8, upright, as the frames stage's decoder (decord) gives it
    planes: I420 | None  # the same frame in yuv420p, upright; None when a side is odd


def native_frames(source: Path, source_indices: np.ndarray, label: str | None = None) -> Iterator[NativeFrame]:
    """``source``'s frames, one for each output frame: ``source_indices`` (non-decreasing, as
    ``timestamps.parquet``'s ``source_frame_index``) names the source frame each shows, counted in presentation
    order as decord counts them. One pass of decoding, one source frame held at a time. A frame that cannot be
    decoded is an InputError naming the file (``label``) and the frame."""
    label = label or str(source)
    indices = np.asarray(source_indices, dtype=np.int64)
    if len(indices) == 0:
        return
    unique, counts = np.unique(indices, return_counts=True)
    wanted = iter(zip(unique.tolist(), counts.tolist()))
    index, repeat = next(wanted)
    decoded = 0
    try:
        with av.open(str(source)) as container:
            for frame in container.decode(video=0):
                if decoded == index:
                    native = _upright(frame, Path(label))
                    for _ in range(repeat):
                        yield native
                    index, repeat = next(wanted, (None, 0))
                    if index is None:
                        return
                decoded += 1
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(label, f"source frame {decoded} cannot be decoded ({exc})") from None
    raise InputError(
        label,
        f"source frame {index} is needed, but only {decoded} decode (the file is shorter than when its frames "
        "were extracted)",
    )


def _upright(frame: av.VideoFrame, path: Path) -> NativeFrame:
    turns = display_rotation(frame, path) // 90
    rgb = np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), turns))
    planes = I420.of_frame(frame)
    return NativeFrame(rgb, planes.turned(turns) if planes is not None else None)
