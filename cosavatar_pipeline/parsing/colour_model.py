"""Per-video colour models (Gaussian mixtures in CIE Lab) learned from regions whose class is unambiguous."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_SAMPLES = 200
MAX_SAMPLES = 20000


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) -> float32 Lab (L in 0..100)."""
    flat = np.ascontiguousarray(rgb.reshape(-1, 1, 3)).astype(np.float32) / 255.0
    return cv2.cvtColor(flat, cv2.COLOR_RGB2LAB).reshape(rgb.shape).astype(np.float32)


@dataclass
class ColourModel:
    name: str
    mixture: object  # sklearn GaussianMixture
    sample_count: int

    def log_likelihood(self, lab_pixels: np.ndarray) -> np.ndarray:
        """(P, 3) Lab -> (P,) log density."""
        if len(lab_pixels) == 0:
            return np.zeros(0, np.float32)
        return self.mixture.score_samples(lab_pixels.astype(np.float64)).astype(np.float32)


def fit_colour_model(name: str, lab_pixels: np.ndarray, components: int = 3, seed: int = 0) -> ColourModel | None:
    """A Gaussian mixture of the samples, or None when there are too few (e.g. no hair on a bald subject)."""
    from sklearn.mixture import GaussianMixture

    if len(lab_pixels) < MIN_SAMPLES:
        return None
    rng = np.random.default_rng(seed)
    if len(lab_pixels) > MAX_SAMPLES:
        lab_pixels = lab_pixels[rng.choice(len(lab_pixels), MAX_SAMPLES, replace=False)]
    mixture = GaussianMixture(components, covariance_type="full", reg_covar=1.0, random_state=seed)
    mixture.fit(lab_pixels.astype(np.float64))
    return ColourModel(name, mixture, len(lab_pixels))
