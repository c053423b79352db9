"""Canonical head space, the neutral frame, and the rigid landmark set that pins the head pose."""

from __future__ import annotations

import numpy as np

from cosavatar_pipeline.face import landmarks as lm
from cosavatar_pipeline.face.geometry import rigid_align

FOREHEAD_TOP, NOSE_TIP = 10, 1
INTER_PUPIL_MM = 63.0  # a typical adult inter-pupillary distance fixes the metric scale


def canonical_axes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows x (towards the subject's left eye = image right), y (forehead -> chin), z = x × y (away from the face).

    Returns (rotation whose rows are the axes, origin = landmark centroid); canonical = (P - origin) @ rotation.T.
    """
    x = points[lm.OUTER_EYE_CORNERS[1]] - points[lm.OUTER_EYE_CORNERS[0]]
    x = x / np.linalg.norm(x)
    y = points[lm.CHIN] - points[FOREHEAD_TOP]
    y = y - (y @ x) * x
    y = y / np.linalg.norm(y)
    return np.stack([x, y, np.cross(x, y)]), points.mean(axis=0)


def to_canonical(points: np.ndarray) -> np.ndarray:
    rotation, origin = canonical_axes(points)
    return (points - origin) @ rotation.T


def pupil_distance(points: np.ndarray) -> np.ndarray:
    """(..., 478, D) -> distance between the iris centres."""
    return np.linalg.norm(points[..., lm.RIGHT_IRIS[0], :] - points[..., lm.LEFT_IRIS[0], :], axis=-1)


def connection_indices(*connection_sets) -> set[int]:
    """Landmark ids touched by mediapipe FaceMesh connection sets."""
    return {i for connections in connection_sets for pair in connections for i in pair}


def rigid_point_mask(canonical_mm: np.ndarray) -> np.ndarray:
    """Forehead, nose bridge and upper cheeks: points that barely move with expressions.

    Excludes irises, eyes and lids (with a margin), brows (with a margin), lips, jaw and chin (everything below
    the nose tip), the outer contour (it slides with head turns) and |x| >= 55 mm.
    """
    from mediapipe.python.solutions import face_mesh_connections as fmc

    count = len(canonical_mm)
    eyes = connection_indices(fmc.FACEMESH_LEFT_EYE, fmc.FACEMESH_RIGHT_EYE) | set(range(468, 478))
    brows = connection_indices(fmc.FACEMESH_LEFT_EYEBROW, fmc.FACEMESH_RIGHT_EYEBROW)
    lips = connection_indices(fmc.FACEMESH_LIPS)
    contour = connection_indices(fmc.FACEMESH_FACE_OVAL)
    mask = np.ones(count, bool)
    mask[list(eyes | brows | lips | contour)] = False
    mask &= np.abs(canonical_mm[:, 0]) < 55.0
    mask &= canonical_mm[:, 1] < canonical_mm[NOSE_TIP, 1] + 2.0
    for group, margin_mm in ((eyes, 9.0), (brows, 7.0)):
        anchors = canonical_mm[sorted(group)]
        distance = np.linalg.norm(canonical_mm[:, None] - anchors[None], axis=-1).min(axis=1)
        mask &= distance > margin_mm
    return mask


def choose_neutral_frame(points_2d: np.ndarray, tracked: np.ndarray) -> int:
    """The most closed-mouth, least-expression, most frontal tracked frame.

    Candidates: tracked frames whose mouth opening is in the lowest fifth. Among them, the frame closest (after 2D
    similarity alignment) to the candidates' median shape, plus a penalty for left/right asymmetry (turned heads).
    """
    xy = points_2d[..., :2].astype(np.float64)
    iod = np.linalg.norm(xy[:, lm.OUTER_EYE_CORNERS[0]] - xy[:, lm.OUTER_EYE_CORNERS[1]], axis=-1)
    mouth = np.linalg.norm(xy[:, lm.UPPER_INNER_LIP_CENTRE] - xy[:, lm.LOWER_INNER_LIP_CENTRE], axis=-1) / iod
    mouth = np.where(tracked, mouth, np.inf)
    candidates = np.flatnonzero(mouth <= np.quantile(mouth[tracked], 0.2))
    normalised = (xy - xy.mean(axis=1, keepdims=True)) / iod[:, None, None]
    median = np.median(normalised[candidates], axis=0)
    scores = []
    for index in candidates:
        shape = np.pad(normalised[index], ((0, 0), (0, 1)))
        rotation, shift = rigid_align(shape, np.pad(median, ((0, 0), (0, 1))))
        deviation = np.sqrt((((shape @ rotation.T + shift)[:, :2] - median) ** 2).sum(axis=1).mean())
        to_right = np.linalg.norm(xy[index, NOSE_TIP] - xy[index, lm.OUTER_EYE_CORNERS[0]])
        to_left = np.linalg.norm(xy[index, NOSE_TIP] - xy[index, lm.OUTER_EYE_CORNERS[1]])
        scores.append(deviation + abs(to_right - to_left) / iod[index])
    return int(candidates[int(np.argmin(scores))])
