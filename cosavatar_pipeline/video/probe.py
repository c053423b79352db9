"""Probe a video file and reject what the pipeline cannot use, with a message naming the file."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from cosavatar_pipeline.errors import InputError

MIN_DURATION_S = 1.0
MIN_SIDE_PX = 128


@dataclass(frozen=True)
class VideoInfo:
    width: int  # as displayed: after the display matrix's rotation (phone clips are stored sideways)
    height: int
    fps: float  # average frame rate as the container states it
    frame_count: int  # frames actually decoded
    duration_s: float  # end time of the last decoded frame
    has_audio: bool
    codec: str
    variable_frame_rate: bool
    rotation_degrees: int = 0  # counter-clockwise turn the display matrix applies to the stored frames

    def as_dict(self) -> dict:
        return asdict(self)


def probe_video(path: Path, min_duration_s: float = MIN_DURATION_S, min_side_px: int = MIN_SIDE_PX) -> VideoInfo:
    """Decode every frame's timing (not pixels' content) and check the clip is usable.

    Decoding the whole stream is what catches truncated files: headers of a cut-off mp4 can look fine.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "does not exist")
    if not path.is_file():
        raise InputError(path, "is not a file")
    if path.stat().st_size == 0:
        raise InputError(path, "is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        if _looks_like_mp4(path):
            raise InputError(path, f"is a damaged or truncated mp4 ({_ffmpeg_reason(exc)})") from None
        raise InputError(path, f"is not a readable video file ({_ffmpeg_reason(exc)})") from None
    with container:
        if not container.streams.video:
            raise InputError(path, "has no video stream")
        stream = container.streams.video[0]
        has_audio = bool(container.streams.audio)
        codec = stream.codec_context.name
        times: list[float] = []
        width = height = rotation = 0
        try:
            for frame in container.decode(stream):
                if not times:
                    rotation = display_rotation(frame, path)
                if frame.time is not None:
                    times.append(float(frame.time))
                width, height = (frame.height, frame.width) if rotation in (90, 270) else (frame.width, frame.height)
        except av.FFmpegError as exc:
            raise InputError(
                path, f"is damaged or truncated: decoding stopped after {len(times)} frames ({_ffmpeg_reason(exc)})"
            ) from None
        rate = stream.average_rate or stream.guessed_rate
        listed_frames = stream.frames
    if not times:
        raise InputError(path, "contains no decodable video frames (damaged or truncated file)")
    if listed_frames and len(times) < listed_frames:
        raise InputError(path, f"is truncated: its index lists {listed_frames} frames but only {len(times)} decode")
    fps = float(rate) if rate else (len(times) - 1) / max(times[-1] - times[0], 1e-6)
    intervals = [b - a for a, b in zip(times, times[1:])]
    variable = bool(intervals) and (max(intervals) - min(intervals)) > 0.5 / fps
    duration = times[-1] - times[0] + (intervals[-1] if intervals else 1.0 / fps)
    info = VideoInfo(
        width=width,
        height=height,
        fps=fps,
        frame_count=len(times),
        duration_s=duration,
        has_audio=has_audio,
        codec=codec,
        variable_frame_rate=variable,
        rotation_degrees=rotation,
    )
    if duration < min_duration_s:
        raise InputError(path, f"is too short: {duration:.2f} s, the pipeline needs at least {min_duration_s:.0f} s")
    if min(width, height) < min_side_px:
        raise InputError(
            path, f"resolution {width}x{height} is too small: the short side must be at least {min_side_px} px"
        )
    return info


def display_rotation(frame: av.VideoFrame, path: Path) -> int:
    """The quarter turn (0, 90, 180 or 270 degrees counter-clockwise) a decoded frame's display matrix asks for.

    Phones store portrait video sideways with such a matrix. decord (0.6.0, pinned) applies the rotation when it
    decodes, so the frames the stages read are upright; tests/test_video.py checks it on 90, 270 and 180 degree
    clips. It does not apply mirroring, and no decoder here applies other angles: those clips are refused."""
    matrix = next((np.frombuffer(bytes(data), np.int32) for data in frame.side_data if data.type.name == "DISPLAYMATRIX"), None)
    if matrix is None:
        return 0
    a, b, c, d = matrix[[0, 1, 3, 4]].astype(np.float64)
    if a * d - b * c < 0:
        raise InputError(path, "is stored mirrored (its display matrix flips the picture): re-export it without mirroring")
    degrees = int(round(frame.rotation)) % 360
    if degrees % 90:
        raise InputError(path, f"asks to be shown rotated by {degrees} degrees: only quarter turns are supported")
    return degrees


def _ffmpeg_reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _looks_like_mp4(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(12)[4:8] == b"ftyp"
