"""The label set (CelebAMask-HQ ids where the class exists there) and the named region masks built from it.

"left"/"right" are image left/right (the subject's right/left).
"""

from __future__ import annotations

import numpy as np

LABEL_SET_VERSION = "cosavatar-parsing-v1"
LABELS: dict[int, str] = {
    0: "background",
    1: "skin",
    2: "left_brow",
    3: "right_brow",
    4: "left_eye",
    5: "right_eye",
    10: "nose",
    11: "mouth",
    12: "upper_lip",
    13: "lower_lip",
    14: "neck",
    16: "cloth",
    17: "hair",
}
BACKGROUND, SKIN, LEFT_BROW, RIGHT_BROW, LEFT_EYE, RIGHT_EYE = 0, 1, 2, 3, 4, 5
NOSE, MOUTH, UPPER_LIP, LOWER_LIP, NECK, CLOTH, HAIR = 10, 11, 12, 13, 14, 16, 17

FACE_LABELS = (SKIN, LEFT_BROW, RIGHT_BROW, LEFT_EYE, RIGHT_EYE, NOSE, MOUTH, UPPER_LIP, LOWER_LIP)
REGION_LABELS: dict[str, tuple[int, ...]] = {
    "hair": (HAIR,),
    "face": FACE_LABELS,
    "lips": (UPPER_LIP, LOWER_LIP),
    "eyes": (LEFT_EYE, RIGHT_EYE),
    "clothes": (CLOTH,),
    "background": (BACKGROUND,),
    "person": tuple(i for i in LABELS if i != BACKGROUND),
    "all": tuple(LABELS),
    # The NeRF's split: the head field owns face and hair; neck and clothes follow the head pose in the torso field.
    "head": FACE_LABELS + (HAIR,),
    "torso": (NECK, CLOTH),
}


def region_mask(label_map: np.ndarray, region: str) -> np.ndarray:
    """Boolean mask of a named region (edit regions, and `head` / `torso` for the NeRF) from a label map."""
    try:
        labels = REGION_LABELS[region]
    except KeyError:
        raise ValueError(f"unknown region {region!r}; known: {sorted(REGION_LABELS)}") from None
    return np.isin(label_map, labels)
