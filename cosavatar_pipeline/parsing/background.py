"""The static background plate: per-pixel temporal median of pixels the person never covers, holes inpainted."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import cv2
import numpy as np

from cosavatar_pipeline.parsing.labels import BACKGROUND

ROW_CHUNK = 32  # rows processed at a time, so memory does not grow with resolution x frame count


@dataclass
class BackgroundPlate:
    plate: np.ndarray  # (S, S, 3) uint8
    never_seen: np.ndarray  # (S, S) bool: no frame showed the background there (inpainted)

    @property
    def never_seen_fraction(self) -> float:
        return float(self.never_seen.mean())


def estimate_background(frames: np.ndarray, label_maps: np.ndarray, margin_px: int | None = None) -> BackgroundPlate:
    """``margin_px`` (default size/64) keeps the person's soft edge and shadow out of the median."""
    count, size = label_maps.shape[:2]
    margin_px = max(1, size // 64) if margin_px is None else margin_px
    kernel = np.ones((2 * margin_px + 1,) * 2, np.uint8)
    visible = np.stack([cv2.erode((labels == BACKGROUND).astype(np.uint8), kernel) > 0 for labels in label_maps])
    plate = np.zeros((size, size, 3), np.float32)
    for top in range(0, size, ROW_CHUNK):
        rows = slice(top, top + ROW_CHUNK)
        pixels = np.asarray(frames[:, rows], dtype=np.float32)
        pixels[~visible[:, rows]] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are the never-seen pixels
            plate[rows] = np.nanmedian(pixels, axis=0)
    never_seen = ~visible.any(axis=0)
    plate = np.nan_to_num(plate).clip(0, 255).astype(np.uint8)
    if never_seen.any():
        plate = cv2.inpaint(plate, never_seen.astype(np.uint8), max(3, size // 32), cv2.INPAINT_TELEA)
    return BackgroundPlate(plate, never_seen)
