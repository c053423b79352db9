"""Small videos made on the fly for tests: good ones from the bundled portrait, and each kind of bad input."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

from cosavatar_pipeline.video.encode import write_mp4


def portrait_frames(count: int, size: int = 256) -> list[np.ndarray]:
    """The astronaut portrait with a small horizontal drift, so frames differ."""
    image = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    return [np.roll(image, shift=i % 5, axis=1) for i in range(count)]


def write_clip(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    write_mp4(path, frames, fps)
    return path


def make_bad_inputs(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    bad: dict[str, Path] = {}

    bad["text_as_mp4"] = folder / "notes.mp4"
    bad["text_as_mp4"].write_text("this is not a video\n" * 20)

    bad["zero_length"] = folder / "empty.mp4"
    bad["zero_length"].write_bytes(b"")

    good = write_clip(folder / "good_source.mp4", portrait_frames(50))
    bad["truncated"] = folder / "truncated.mp4"
    bad["truncated"].write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    # moov atom first ("fast start"): the index survives the cut, the frames do not
    faststart = folder / "faststart_source.mp4"
    with av.open(str(good)) as source, av.open(str(faststart), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    bad["truncated_faststart"] = folder / "truncated_faststart.mp4"
    bad["truncated_faststart"].write_bytes(faststart.read_bytes()[: faststart.stat().st_size // 2])

    noise = [(rng.random((192, 192, 3)) * 255).astype(np.uint8) for _ in range(40)]
    bad["no_face"] = write_clip(folder / "no_face.mp4", noise)

    head = data.astronaut()[0:260, 110:350]
    two_heads = np.ascontiguousarray(np.concatenate([head, head[:, ::-1]], axis=1))
    bad["two_faces"] = write_clip(folder / "two_faces.mp4", [two_heads] * 40)

    bad["too_short"] = write_clip(folder / "too_short.mp4", portrait_frames(12))  # 0.48 s

    bad["too_small"] = write_clip(folder / "tiny.mp4", [cv2.resize(f, (64, 64)) for f in portrait_frames(40)])

    # over the limits (probe.MAX_DURATION_S, MAX_SIDE_PX), made cheap: 1 fps, and few frames
    bad["too_long"] = write_clip(folder / "two_hours.mp4", portrait_frames(310, size=128), fps=1.0)  # 310 s
    wide = cv2.resize(portrait_frames(1)[0], (4160, 160))
    bad["too_large"] = write_clip(folder / "eight_k.mp4", [wide] * 30)

    bad["missing"] = folder / "does_not_exist.mp4"
    return bad


def write_variable_rate_clip(path: Path, frame_times_s: list[float], size: int = 192) -> Path:
    """An mp4 whose frames sit at the given (irregular) presentation times."""
    frames = portrait_frames(len(frame_times_s), size)
    time_base = Fraction(1, 1000)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = time_base
        for image, t in zip(frames, frame_times_s):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = int(round(t * 1000))
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_phone_clip(
    path: Path, upright: list[np.ndarray], rotation: int, mirrored: bool = False, fps: float = 25.0
) -> Path:
    """An mp4 as a phone writes one: the frames stored turned, with a display matrix that turns them upright
    (``rotation`` degrees counter-clockwise), optionally also mirrored."""
    stored = [np.ascontiguousarray(np.rot90(frame, k=-rotation // 90)) for frame in upright]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.height, stream.width = stored[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.set_display_rotation(rotation, hflip=mirrored)
        for image in stored:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_clip_with_audio(path: Path, frames: list[np.ndarray], fps: float = 25.0, rate: int = 16000) -> Path:
    """An mp4 with a 440 Hz mono AAC track as long as the video."""
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=Fraction(fps))
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "mono"
        for image in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        total, chunk = int(len(frames) / fps * rate), 1024
        for start in range(0, total, chunk):
            t = (start + np.arange(chunk)) / rate
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return path
