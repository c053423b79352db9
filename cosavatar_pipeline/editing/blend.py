"""Semantic blending: an edit changes only its region, with a feathered edge."""

from __future__ import annotations

import cv2
import numpy as np


def feathered_mask(region: np.ndarray, radius_px: float) -> np.ndarray:
    """(H, W) bool -> (H, W) float32 in [0, 1]: 1 well inside the region, falling to 0 over ~radius_px at its edge."""
    mask = region.astype(np.float32)
    if radius_px <= 0 or not region.any():
        return mask
    return cv2.GaussianBlur(mask, (0, 0), sigmaX=radius_px / 2)


def blend(edited: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``mask * edited + (1 - mask) * original`` for uint8 images and a float mask."""
    weight = mask.astype(np.float32)[..., None]
    mixed = weight * edited.astype(np.float32) + (1 - weight) * original.astype(np.float32)
    return (mixed + 0.5).clip(0, 255).astype(np.uint8)


def change_inside_outside(edited: np.ndarray, original: np.ndarray, region: np.ndarray) -> tuple[float, float]:
    """Mean absolute change (0-255 levels) inside and outside a boolean region."""
    change = np.abs(edited.astype(np.float32) - original.astype(np.float32)).mean(axis=-1)
    inside = float(change[region].mean()) if region.any() else 0.0
    outside = float(change[~region].mean()) if (~region).any() else 0.0
    return inside, outside
