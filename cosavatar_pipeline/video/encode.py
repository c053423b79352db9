"""Write RGB frames to an H.264 mp4 (yuv420p, plays in browsers) with PyAV."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from cosavatar_pipeline.atomic import atomic_file


def write_mp4(path: Path, frames: Iterable[np.ndarray], fps: float, crf: int = 20) -> int:
    """Encode (H, W, 3) uint8 frames; the file appears only when complete. Returns the frame count."""
    written = 0
    with atomic_file(Path(path), "wb") as handle:
        with av.open(handle, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": "veryfast"}
            for frame in frames:
                if written == 0:
                    # yuv420p needs even sides
                    stream.height, stream.width = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2
                image = np.ascontiguousarray(frame[: stream.height, : stream.width])
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
                written += 1
            for packet in stream.encode():
                container.mux(packet)
    return written
