"""Turn a source video into the pipeline's frames: one face-centred square crop, constant frame rate."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from cosavatar_pipeline.presets import Preset
from cosavatar_pipeline.stages.frames import FRAMES_FILE, TIMESTAMPS_FILE
from cosavatar_pipeline.video.crop import CropBox, FaceDetector, choose_crop
from cosavatar_pipeline.video.decode import VideoFrames, constant_rate_source_indices
from cosavatar_pipeline.video.probe import VideoInfo, probe_video

CROP_SAMPLE_FRAMES = 24


@dataclass(frozen=True)
class FramesResult:
    frame_count: int
    fps: float
    resolution: int
    crop: CropBox
    source_frame_count: int
    source_duration_s: float
    upsampled: bool  # the crop is smaller than the output resolution
    seconds: float


def sample_face_crop(video: VideoFrames, detector: FaceDetector, samples: int = CROP_SAMPLE_FRAMES) -> CropBox:
    indices = np.unique(np.linspace(0, video.frame_count - 1, num=min(samples, video.frame_count)).round().astype(int))
    frames = video.get(indices)
    faces = [detector.detect(frame) for frame in frames]
    times = [float(video.timestamps[i, 0]) for i in indices]
    return choose_crop(faces, times, frames.shape[2], frames.shape[1], video.label)


def extract_frames(
    source: Path,
    out_dir: Path,
    preset: Preset,
    progress: Callable[[int, int], None] | None = None,
    source_label: str | None = None,
) -> FramesResult:
    """Write ``frames.npy`` (N, S, S, 3) uint8 and ``timestamps.parquet`` into ``out_dir``.

    The array is written through a memory map batch by batch, so peak memory does not grow with clip length.
    """
    started = time.perf_counter()
    video = VideoFrames(source, label=source_label)
    with FaceDetector() as detector:
        crop = sample_face_crop(video, detector)

    source_indices = constant_rate_source_indices(video.timestamps[:, 0], video.duration_s, preset.fps)
    size = preset.resolution
    frames = np.lib.format.open_memmap(
        out_dir / FRAMES_FILE, mode="w+", dtype=np.uint8, shape=(len(source_indices), size, size, 3)
    )
    # Decode each needed source frame once, even when it fills several output slots (upsampled frame rate); the
    # indices never decrease, so each source frame's slots are one run starting at `first_slot`.
    unique_indices, first_slot, slot_count = np.unique(source_indices, return_index=True, return_counts=True)
    slots_of = dict(zip(unique_indices.tolist(), zip(first_slot.tolist(), slot_count.tolist())))
    interpolation = cv2.INTER_AREA if crop.size >= size else cv2.INTER_CUBIC
    done = 0
    for chunk, batch in video.iter_batches(unique_indices):
        for source_index, frame in zip(chunk, batch):
            start, count = slots_of[int(source_index)]
            frames[start : start + count] = cv2.resize(crop.apply(frame), (size, size), interpolation=interpolation)
        done += len(chunk)
        if progress:
            progress(done, len(unique_indices))
    frames.flush()
    del frames

    table = pd.DataFrame(
        {
            "frame_index": np.arange(len(source_indices)),
            "time_s": np.arange(len(source_indices)) / preset.fps,
            "source_frame_index": source_indices,
            "source_time_s": video.timestamps[source_indices, 0] - video.timestamps[0, 0],
        }
    )
    table.to_parquet(out_dir / TIMESTAMPS_FILE, index=False)
    return FramesResult(
        frame_count=len(source_indices),
        fps=preset.fps,
        resolution=size,
        crop=crop,
        source_frame_count=video.frame_count,
        source_duration_s=video.duration_s,
        upsampled=crop.size < size,
        seconds=time.perf_counter() - started,
    )


def check_video(path: Path) -> tuple[VideoInfo, CropBox]:
    """Everything that can reject a video before any stage runs: decodability, length, size, one clear face."""
    info = probe_video(path)
    with FaceDetector() as detector:
        crop = sample_face_crop(VideoFrames(path), detector)
    return info, crop
