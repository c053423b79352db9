"""Where an edit may change the image: its region in the original parsing, grown into what the edited image's
parsing calls that region (a longer hairstyle), within a bounded distance."""

from __future__ import annotations

import cv2
import numpy as np

from cosavatar_pipeline.errors import InputError
from cosavatar_pipeline.parsing import labels as L
from cosavatar_pipeline.parsing.labels import region_mask

# Which original labels a region may grow into when the edited image shows it larger: hair may become longer over
# the background and the clothes, clothes may widen over the background. Face parts keep their shape: a parser
# reading a recoloured forehead or chest as "hair" must not pull them into the edit.
GROWS_INTO: dict[str, tuple[int, ...]] = {
    "hair": (L.BACKGROUND, L.CLOTH),
    "clothes": (L.BACKGROUND,),
    "person": (L.BACKGROUND,),
}

# A region must cover at least this fraction of the frame in at least MIN_PRESENCE of the frames to be edited.
MIN_REGION_AREA = 0.002
MIN_PRESENCE = 0.5


def check_region_present(label_maps: np.ndarray, region: str, subject: str) -> float:
    """Fraction of frames showing ``region``; an InputError naming the video when it is (nearly) absent, e.g. a
    hair edit on a bald subject. Cheap: runs on the label maps before any rendering or editing."""
    masks = region_mask(np.asarray(label_maps), region)
    area = masks.reshape(len(masks), -1).mean(axis=1)
    presence = float((area >= MIN_REGION_AREA).mean())
    if presence < MIN_PRESENCE:
        raise InputError(
            subject,
            f"has no {region!r} region to edit: it covers at least {MIN_REGION_AREA:.1%} of the frame in only "
            f"{presence:.0%} of the frames (need {MIN_PRESENCE:.0%}); choose another region with --region",
        )
    return presence


def dilate(masks: np.ndarray, radius_px: int) -> np.ndarray:
    """Boolean (H, W) or (N, H, W) masks grown by ``radius_px`` with a disc: everything within that distance."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius_px + 1, 2 * radius_px + 1))
    if masks.ndim == 2:
        return cv2.dilate(masks.astype(np.uint8), kernel) > 0
    return np.stack([cv2.dilate(m.astype(np.uint8), kernel) > 0 for m in masks])


def grown_region(region: str, original_labels: np.ndarray, edited_labels: np.ndarray, max_growth_px: int) -> np.ndarray:
    """The region in the original labels ∪ the edited image's region where it may grow: (H, W) bools.

    Growth is limited to pixels ``GROWS_INTO`` allows and to ``max_growth_px`` from the original region, so a
    parser's mistake on a stylised image (a sketch read as person everywhere) cannot open the frame to the edit."""
    original = region_mask(original_labels, region)
    allowed = np.isin(original_labels, GROWS_INTO.get(region, ()))
    if max_growth_px <= 0 or not original.any() or not allowed.any():
        return original
    return original | (region_mask(edited_labels, region) & dilate(original, max_growth_px) & allowed)


def merged_label_map(original: np.ndarray, edited: np.ndarray, grown: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The original labels, except where the region grew: there, the edited image's labels (so the avatar's masks
    follow a hairstyle that became longer)."""
    merged = original.copy()
    added = grown & ~region
    merged[added] = edited[added]
    return merged
