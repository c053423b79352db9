"""Does a render follow an expression? Identity-robust figures from 2D FaceMesh landmarks re-detected on the
rendered frames and on the reference frames (the source's own frames for the subject's motion, the driver's frames
for another person's): mouth-open ratio and eye openness per frame, then Pearson r and gain (least-squares slope of
render on reference) over all frames and over the frames where the reference moves.

A noise floor comes with them: the same figures for the reference blurred to the render's sharpness against the
reference itself, i.e. what a perfect but equally soft render would score.
"""

from __future__ import annotations

import cv2
import numpy as np

from cosavatar_pipeline.face import landmarks as lm
from cosavatar_pipeline.face.landmarks import track_landmarks

BLUR_SIGMAS = (0.0, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
MOVING_SHARE = 0.25  # a frame "moves" when the reference is this share of its p5..p95 span above its p5


def signals(frames: np.ndarray, label: str) -> dict[str, np.ndarray]:
    """(N, S, S, 3) uint8 -> per-frame ``mouth`` and ``eyes`` ratios and ``tracked`` (N,) bool."""
    track = track_landmarks(frames, label=label, min_tracked_ratio=0.0)
    return {"mouth": lm.mouth_open_ratio(track.points), "eyes": lm.eye_openness(track.points), "tracked": track.tracked}


def moving_frames(reference: np.ndarray) -> np.ndarray:
    if len(reference) == 0:
        return np.zeros(0, bool)
    low, high = np.percentile(reference, [5, 95])
    return reference - low > MOVING_SHARE * max(high - low, 1e-9)


def follow(render: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Pearson r and gain (slope of render on reference); NaN with fewer than 3 frames or a flat reference."""
    if len(render) < 3 or np.std(reference) < 1e-9:
        return float("nan"), float("nan")
    r = float(np.corrcoef(render, reference)[0, 1]) if np.std(render) > 1e-12 else 0.0
    return r, float(np.polyfit(reference, render, 1)[0])


def follow_figures(render: dict, reference: dict, reference_scale: float = 1.0, prefix: str = "") -> dict[str, float]:
    """Figures of one render against one reference; ``reference_scale`` multiplies the reference's mouth signal
    first (a driver's motion scaled to the target's face)."""
    valid = render["tracked"] & reference["tracked"]
    figures = {f"{prefix}tracked_fraction": float(valid.mean())}
    for part, scale in (("mouth", reference_scale), ("eyes", 1.0)):
        ours, theirs = render[part][valid], reference[part][valid] * scale
        moving = moving_frames(theirs)
        r, gain = follow(ours, theirs)
        r_moving, gain_moving = follow(ours[moving], theirs[moving])
        figures.update(
            {
                f"{prefix}{part}_r": r,
                f"{prefix}{part}_gain": gain,
                f"{prefix}{part}_r_moving": r_moving,
                f"{prefix}{part}_gain_moving": gain_moving,
                f"{prefix}{part}_moving_frames": float(moving.sum()),
            }
        )
    return figures


def sharpness(frames: np.ndarray) -> float:
    """Mean variance of the Laplacian of the grey frames."""
    return float(np.mean([cv2.Laplacian(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for f in frames]))


def blurred_like(reference: np.ndarray, rendered: np.ndarray) -> np.ndarray:
    """The reference frames blurred (Gaussian, sigma from BLUR_SIGMAS) to the sharpness closest to the render's."""
    target = sharpness(rendered)
    best, best_gap = reference, abs(sharpness(reference) - target)
    for sigma in BLUR_SIGMAS[1:]:
        blurred = np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in reference])
        gap = abs(sharpness(blurred) - target)
        if gap < best_gap:
            best, best_gap = blurred, gap
    return best


def expression_figures(rendered: np.ndarray, reference: np.ndarray, reference_scale: float = 1.0) -> dict[str, float]:
    """rendered, reference: (N, S, S, 3) uint8 of the same moments. Figures of the render and, prefixed
    ``noise_floor_``, of the reference blurred to the render's sharpness."""
    reference_signals = signals(reference, "reference frames")
    render_signals = signals(rendered, "rendered frames")
    floor_signals = signals(blurred_like(reference, rendered), "blurred reference frames")
    return {
        **follow_figures(render_signals, reference_signals, reference_scale),
        **follow_figures(floor_signals, reference_signals, 1.0, prefix="noise_floor_"),
    }


MIN_FOLLOW_R, MIN_FOLLOW_GAIN = 0.5, 0.3


def follows(figures: dict[str, float], prefix: str = "") -> bool:
    """Whether the mouth follows the reference where the reference moves: r and gain over those frames at least
    ``MIN_FOLLOW_R`` / ``MIN_FOLLOW_GAIN`` (NaN, e.g. no face re-detected, fails)."""
    r, gain = figures[f"{prefix}mouth_r_moving"], figures[f"{prefix}mouth_gain_moving"]
    return bool(r >= MIN_FOLLOW_R and gain >= MIN_FOLLOW_GAIN)
