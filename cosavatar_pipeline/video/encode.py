"""Write RGB frames to an H.264 mp4 (yuv420p, plays in browsers) with PyAV, optionally with another file's audio."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from cosavatar_pipeline.atomic import atomic_file


def write_mp4(
    path: Path, frames: Iterable[np.ndarray], fps: float, crf: int = 20, audio_from: Path | None = None
) -> int:
    """Encode (H, W, 3) uint8 frames; the file appears only when complete. Returns the frame count.

    ``audio_from``: a media file whose first audio track (if any) is re-encoded to AAC alongside, cut to the
    video's duration; both start at time 0, as the frames stage keeps the source's timeline."""
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError(f"{path}: no frames to write")
    written = 0
    with atomic_file(Path(path), "wb") as handle:
        with av.open(handle, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": "veryfast"}
            stream.height, stream.width = first.shape[0] // 2 * 2, first.shape[1] // 2 * 2  # yuv420p: even sides
            audio = _AudioTrack(Path(audio_from), container) if audio_from is not None else None
            for frame in itertools.chain([first], frames):
                image = np.ascontiguousarray(frame[: stream.height, : stream.width])
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
                written += 1
            for packet in stream.encode():
                container.mux(packet)
            if audio is not None:
                audio.copy(duration_s=written / fps)
    return written


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

    def copy(self, duration_s: float) -> None:
        try:
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
        finally:
            self.media.close()
