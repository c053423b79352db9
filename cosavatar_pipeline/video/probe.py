"""Probe a video file and reject what the pipeline cannot use, with a message naming the file."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from cosavatar_pipeline.errors import InputError, require_file

MIN_DURATION_S = 1.0
MIN_SIDE_PX = 128
# The avatar holds every frame, its masks and its landmark warp field in memory (1.3 MB a frame measured on a talking
# clip, warp field and mouth masks; more at larger presets): 5 minutes at 25 fps is ~10 GB. Longer clips are refused
# before anything is decoded.
MAX_DURATION_S = 300.0
MAX_SIDE_PX = 4096  # 4K (UHD and DCI); frames are cropped and resized to the preset's side anyway


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


def probe_video(
    path: Path,
    min_duration_s: float = MIN_DURATION_S,
    min_side_px: int = MIN_SIDE_PX,
    max_duration_s: float = MAX_DURATION_S,
    label: str | Path | None = None,
) -> VideoInfo:
    """Decode every frame's timing (not pixels' content) and check the clip is usable. ``label``: how errors name
    the file (the user's original when ``path`` is a copy in the store).

    Decoding the whole stream is what catches truncated files: headers of a cut-off mp4 can look fine. What the
    header says about length and size is checked first, so an over-long or oversized clip is refused at once.
    """
    try:
        return _probe(Path(path), min_duration_s, min_side_px, max_duration_s)
    except InputError as exc:
        if label is None:
            raise
        raise InputError(label, exc.problem) from None


def _probe(path: Path, min_duration_s: float, min_side_px: int, max_duration_s: float) -> VideoInfo:
    with _open_video(path, max_duration_s) as container:
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
                    if times[-1] - times[0] > max_duration_s:  # a header that understated the length
                        raise InputError(path, _too_long(times[-1] - times[0], max_duration_s))
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


def check_header(path: Path, max_duration_s: float = MAX_DURATION_S) -> None:
    """The checks that read only the container's header (exists, opens, has a video stream, length and size within
    the limits): cheap enough for a sensor tick. ``probe_video`` decodes the rest when the video is ingested."""
    with _open_video(Path(path), max_duration_s):
        pass


def _open_video(path: Path, max_duration_s: float):
    """The opened container, after every check its header allows."""
    require_file(path)
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        if _looks_like_mp4(path):
            raise InputError(path, f"is a damaged or truncated mp4 ({_ffmpeg_reason(exc)})") from None
        raise InputError(path, f"is not a readable video file ({_ffmpeg_reason(exc)})") from None
    try:
        if not container.streams.video:
            raise InputError(path, "has no video stream")
        _check_declared_size(path, container.streams.video[0], container, max_duration_s)
    except InputError:
        container.close()
        raise
    return container


def _check_declared_size(path: Path, stream, container, max_duration_s: float) -> None:
    if max(stream.width or 0, stream.height or 0) > MAX_SIDE_PX:
        raise InputError(
            path,
            f"resolution {stream.width}x{stream.height} is too large: the long side may be at most {MAX_SIDE_PX} px",
        )
    declared = None
    if stream.duration is not None and stream.time_base is not None:
        declared = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        declared = container.duration / av.time_base
    if declared is not None and declared > max_duration_s:
        raise InputError(path, _too_long(declared, max_duration_s))


def _too_long(duration_s: float, max_duration_s: float) -> str:
    return (
        f"is too long: {duration_s:.0f} s, the pipeline takes at most {max_duration_s:.0f} s (the avatar holds every "
        "frame in memory); cut it into shorter clips"
    )


def display_rotation(frame: av.VideoFrame, path: Path) -> int:
    """The quarter turn (0, 90, 180 or 270 degrees counter-clockwise) a decoded frame's display matrix asks for.

    Phones store portrait video sideways with such a matrix. decord (0.6.0, pinned) applies the rotation when it
    decodes, so the frames the stages read are upright; tests/test_video.py checks it on 90, 270 and 180 degree
    clips. It does not apply mirroring, and no decoder here applies other angles: those clips are refused."""
    # by key: iterating side_data gives the entries in PyAV 18.1.0 but their types in 18.1.1
    data = frame.side_data.get(av.sidedata.sidedata.Type.DISPLAYMATRIX)
    if data is None:
        return 0
    matrix = np.frombuffer(bytes(data), np.int32)
    a, b, c, d = matrix[[0, 1, 3, 4]].astype(np.float64)
    if a * d - b * c < 0:
        raise InputError(
            path, "is stored mirrored (its display matrix flips the picture): re-export it without mirroring"
        )
    degrees = int(round(frame.rotation)) % 360
    if degrees % 90:
        raise InputError(path, f"asks to be shown rotated by {degrees} degrees: only quarter turns are supported")
    return degrees


def _ffmpeg_reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _looks_like_mp4(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(12)[4:8] == b"ftyp"
