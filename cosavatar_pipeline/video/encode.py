"""Write RGB frames to an H.264 mp4 (yuv420p, plays in browsers) with PyAV, optionally with another file's audio."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from cosavatar_pipeline.atomic import atomic_file
from cosavatar_pipeline.video.planes import I420


class Mp4Writer:
    """An mp4 written one frame at a time (``add``); the encoder is set up from the first frame's size (odd sides
    lose their last row or column: yuv420p needs even ones). Opened by ``open_mp4``."""

    def __init__(self, container, fps: float, crf: int, audio_from: Path | None):
        self.container, self.fps, self.crf, self.audio_from = container, fps, crf, audio_from
        self.audio: _AudioTrack | None = None
        self.stream = None
        self.written = 0

    def add(self, frame: np.ndarray) -> None:
        """One (H, W, 3) uint8 RGB frame; every frame has the first one's size."""
        self._open(*frame.shape[:2])
        image = np.ascontiguousarray(frame[: self.stream.height, : self.stream.width])
        self._encode(av.VideoFrame.from_ndarray(image, format="rgb24"))

    def add_planes(self, planes: I420) -> None:
        """One frame already in the encoder's pixel format (even sides): it reaches the encoder unconverted."""
        self._open(*planes.shape)
        self._encode(planes.video_frame())

    def _open(self, height: int, width: int) -> None:
        if self.stream is not None:
            return
        self.stream = self.container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": str(self.crf), "preset": "veryfast"}
        self.stream.height, self.stream.width = height // 2 * 2, width // 2 * 2
        if self.audio_from is not None:  # after the video stream, so that the video is the first track
            self.audio = _AudioTrack(Path(self.audio_from), self.container)

    def _encode(self, frame: av.VideoFrame) -> None:
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.written += 1

    def finish(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        if self.audio is not None:
            self.audio.copy(duration_s=self.written / self.fps)


@contextlib.contextmanager
def open_mp4(path: Path, fps: float, crf: int = 20, audio_from: Path | None = None) -> Iterator[Mp4Writer]:
    """An ``Mp4Writer`` whose file appears at ``path`` only when the block ends without an error and at least one
    frame was added.

    ``audio_from``: a media file whose first audio track (if any) is re-encoded to AAC alongside, cut to the
    video's duration; both start at time 0, as the frames stage keeps the source's timeline."""
    with atomic_file(Path(path), "wb") as handle:
        with av.open(handle, mode="w", format="mp4") as container:
            writer = Mp4Writer(container, fps, crf, audio_from)
            try:
                yield writer
                if writer.written == 0:
                    raise ValueError(f"{path}: no frames to write")
                writer.finish()
            finally:
                if writer.audio is not None:
                    writer.audio.close()


def write_mp4(
    path: Path, frames: Iterable[np.ndarray], fps: float, crf: int = 20, audio_from: Path | None = None
) -> int:
    """Encode (H, W, 3) uint8 frames (see ``open_mp4``). Returns the frame count."""
    with open_mp4(path, fps, crf, audio_from) as writer:
        for frame in frames:
            writer.add(frame)
    return writer.written


class _AudioTrack:
    """The first audio track of ``source``, re-encoded to AAC into ``container`` (its stream must exist before
    anything is muxed, so it is added up front)."""

    def __init__(self, source: Path, container):
        self.media = av.open(str(source))
        self.container = container
        self.incoming = self.media.streams.audio[0] if self.media.streams.audio else None
        if self.incoming is not None:
            self.rate = self.incoming.codec_context.sample_rate or 44100
            self.outgoing = container.add_stream("aac", rate=self.rate)
            self.outgoing.layout = "mono" if self.incoming.codec_context.channels == 1 else "stereo"

    def close(self) -> None:
        self.media.close()

    def copy(self, duration_s: float) -> None:
        if self.incoming is None:
            return
        resampler = av.AudioResampler(format="fltp", layout=self.outgoing.layout.name, rate=self.rate)
        samples_left = int(duration_s * self.rate)
        for decoded in self.media.decode(self.incoming):
            if samples_left <= 0:
                break
            for frame in resampler.resample(decoded):
                frame.pts = None
                samples_left -= frame.samples
                for packet in self.outgoing.encode(frame):
                    self.container.mux(packet)
        for packet in self.outgoing.encode():
            self.container.mux(packet)
