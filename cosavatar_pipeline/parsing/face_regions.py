"""Face-part label maps rasterised from FaceMesh landmark polygons."""

from __future__ import annotations

from collections import defaultdict

import cv2
import numpy as np

from cosavatar_pipeline.parsing import labels as L

LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
UPPER_LIP_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
UPPER_LIP_INNER = (308, 415, 310, 311, 312, 13, 82, 81, 80, 191, 78)


def _loop(connections) -> list[int]:
    """Order the edges of a closed mediapipe contour into one loop of point indices."""
    neighbours = defaultdict(list)
    for a, b in connections:
        neighbours[a].append(b)
        neighbours[b].append(a)
    start = min(neighbours)
    order, previous = [start], None
    while True:
        current = order[-1]
        following = [n for n in neighbours[current] if n != previous]
        if not following or following[0] == start:
            return order
        previous = current
        order.append(following[0])


def _contours():
    from mediapipe.python.solutions import face_mesh_connections as fmc

    def points(connections):
        return sorted({i for pair in connections for i in pair})

    return {
        "oval": _loop(fmc.FACEMESH_FACE_OVAL),
        "left_eye": _loop(fmc.FACEMESH_RIGHT_EYE),  # mediapipe names the subject's side; ours are image sides
        "right_eye": _loop(fmc.FACEMESH_LEFT_EYE),
        "left_brow": points(fmc.FACEMESH_RIGHT_EYEBROW),
        "right_brow": points(fmc.FACEMESH_LEFT_EYEBROW),
        "nose": points(fmc.FACEMESH_NOSE),
    }


CONTOURS = _contours()


def _fill(canvas: np.ndarray, polygon: np.ndarray, value: int, hull: bool = False) -> None:
    pts = np.round(polygon[:, :2] * 4).astype(np.int32)  # 2 bits of sub-pixel precision
    if hull:
        pts = cv2.convexHull(pts)
    cv2.fillPoly(canvas, [pts.reshape(-1, 1, 2)], value, lineType=cv2.LINE_8, shift=2)


def face_label_map(points: np.ndarray, size: int) -> np.ndarray:
    """(478, >=2) landmarks in pixels -> (size, size) uint8 labels: skin inside the face oval, then the parts."""
    labels = np.zeros((size, size), np.uint8)
    _fill(labels, points[CONTOURS["oval"]], L.SKIN)
    _fill(labels, points[CONTOURS["nose"]], L.NOSE, hull=True)
    _fill(labels, points[list(LIPS_OUTER)], L.LOWER_LIP)
    upper = np.concatenate([points[list(UPPER_LIP_OUTER)], points[list(UPPER_LIP_INNER)]])
    _fill(labels, upper, L.UPPER_LIP)
    _fill(labels, points[list(LIPS_INNER)], L.MOUTH)
    _fill(labels, points[CONTOURS["left_brow"]], L.LEFT_BROW, hull=True)
    _fill(labels, points[CONTOURS["right_brow"]], L.RIGHT_BROW, hull=True)
    _fill(labels, points[CONTOURS["left_eye"]], L.LEFT_EYE)
    _fill(labels, points[CONTOURS["right_eye"]], L.RIGHT_EYE)
    return labels
