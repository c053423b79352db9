"""Image quality figures."""

from __future__ import annotations

import numpy as np


def psnr(prediction: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB of uint8 or [0, 1] images, optionally over a (H, W) mask only."""
    scale = 255.0 if target.dtype == np.uint8 else 1.0
    difference = (np.asarray(prediction, np.float64) - np.asarray(target, np.float64)) / scale
    squared = (difference**2).mean(axis=-1)
    mse = squared[mask].mean() if mask is not None else squared.mean()
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))


def ssim(prediction: np.ndarray, target: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(prediction, target, channel_axis=-1, data_range=255 if target.dtype == np.uint8 else 1.0)
    )
