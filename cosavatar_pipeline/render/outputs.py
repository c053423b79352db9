"""The files a render leaves: the video, a side-by-side with its reference, a contact sheet."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from cosavatar_pipeline.preview import contact_sheet, save_png
from cosavatar_pipeline.video.encode import write_mp4

SIDE_BY_SIDE_FILE = "side_by_side.mp4"
CONTACT_SHEET_FILE = "contact_sheet.png"


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) pairs side by side; ``right`` is resized to ``left``'s height."""
    height = left.shape[1]
    if right.shape[1] != height:
        width = round(right.shape[2] * height / right.shape[1])
        right = np.stack([cv2.resize(np.asarray(f), (width, height), interpolation=cv2.INTER_AREA) for f in right])
    return np.concatenate([np.asarray(left), np.asarray(right)], axis=2)


def write_render_set(
    folder: Path, video_file: str, frames: np.ndarray, reference: np.ndarray, fps: float, audio_from: Path | None = None
) -> list[str]:
    """``video_file`` (the render), ``side_by_side.mp4`` (reference | render) and ``contact_sheet.png`` (pairs of
    8 evenly spaced frames). Audio of ``audio_from``, when it has any, is carried into both videos."""
    pairs = side_by_side(reference[: len(frames)], frames)
    write_mp4(Path(folder) / video_file, frames, fps, audio_from=audio_from)
    write_mp4(Path(folder) / SIDE_BY_SIDE_FILE, pairs, fps, audio_from=audio_from)
    save_png(Path(folder) / CONTACT_SHEET_FILE, contact_sheet(pairs, count=8, columns=2, tile=2 * 160))
    return [video_file, SIDE_BY_SIDE_FILE, CONTACT_SHEET_FILE]
