"""The delivered edit over the source trajectory: the edited avatar's render inside the edit's region, the source
video everywhere else. The region is found as the dataset update finds it: the source's parsing grown into what
the render's parsing calls that region, within a bounded distance, with a feathered edge."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosavatar_pipeline.editing.blend import blend, feathered_mask
from cosavatar_pipeline.editing.config import EditRoundConfig
from cosavatar_pipeline.editing.regions import dilate, grown_region
from cosavatar_pipeline.nerf.metrics import psnr


@dataclass
class Composite:
    frames: np.ndarray  # (N, S, S, 3) uint8: the render inside the region, the source elsewhere
    regions: np.ndarray  # (N, S, S) bool: the grown region of each frame
    masks: np.ndarray  # (N, S, S) float32 in [0, 1]: its feathered blend mask


def composite_into_source(
    renders: np.ndarray,
    sources: np.ndarray,
    source_labels: np.ndarray,
    render_labels: np.ndarray,
    region: str,
    config: EditRoundConfig,
) -> Composite:
    """renders, sources (N, S, S, 3) uint8; label maps (N, S, S)."""
    size = sources.shape[1]
    regions = np.stack(
        [grown_region(region, np.asarray(s), r, config.growth_px(size)) for s, r in zip(source_labels, render_labels)]
    )
    masks = np.stack([feathered_mask(r, config.feather_px(size)) for r in regions])
    composited = np.stack([blend(r, s, m) for r, s, m in zip(renders, sources, masks)])
    return Composite(composited, regions, masks)


def psnr_outside_region(images: np.ndarray, references: np.ndarray, regions: np.ndarray) -> float:
    """Mean per-frame PSNR (dB) of ``images`` against ``references`` (N, S, S, 3) where the edit should change
    nothing: outside ``regions`` (N, S, S) bool, grown by size/32 px to stay clear of the blend's feathered edge.
    Frames identical there count 120 dB (``psnr``'s cap)."""
    outside = ~dilate(regions, max(1, images.shape[1] // 32))
    return float(np.mean([psnr(i, r, m) for i, r, m in zip(images, references, outside) if m.any()]))
