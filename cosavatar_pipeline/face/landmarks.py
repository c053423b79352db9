"""mediapipe FaceMesh (478 landmarks with irises); the model ships inside the mediapipe 0.10.21 wheel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cosavatar_pipeline.errors import InputError

LANDMARK_COUNT = 478
MIN_TRACKED_RATIO = 0.5

# Landmark index sets on mediapipe's canonical face mesh.
LOWER_LIP = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LOWER_INNER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
UPPER_LID_RIGHT = (246, 161, 160, 159, 158, 157, 173)  # subject's right eye, image left
LOWER_LID_RIGHT = (7, 163, 144, 145, 153, 154, 155)
UPPER_LID_LEFT = (466, 388, 387, 386, 385, 384, 398)
LOWER_LID_LEFT = (249, 390, 373, 374, 380, 381, 382)
UPPER_INNER_LIP_CENTRE, LOWER_INNER_LIP_CENTRE, CHIN = 13, 14, 152
MOUTH_CORNERS = (61, 291)
OUTER_EYE_CORNERS = (33, 263)  # inter-ocular distance is measured between these
RIGHT_IRIS, LEFT_IRIS = tuple(range(468, 473)), tuple(range(473, 478))


class FaceMesh:
    """Landmarks of the largest face: (478, 3) float32, x and y in pixels, z relative depth in pixels.

    ``video_mode`` tracks across consecutive frames (mediapipe's tracking); otherwise each image is detected anew.
    """

    def __init__(
        self, video_mode: bool = True, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5
    ):
        import mediapipe as mp

        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=not video_mode,
            max_num_faces=1,
            refine_landmarks=True,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )

    def __enter__(self) -> "FaceMesh":
        return self

    def __exit__(self, *exc) -> None:
        self._mesh.close()

    def detect(self, rgb: np.ndarray) -> np.ndarray | None:
        height, width = rgb.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(rgb))
        if not result.multi_face_landmarks:
            return None
        points = result.multi_face_landmarks[0].landmark
        return np.array([(p.x * width, p.y * height, p.z * width) for p in points], dtype=np.float32)


@dataclass
class LandmarkTrack:
    points: np.ndarray  # (N, 478, 3) float32: x, y pixels of the frame, z relative depth (pixels)
    tracked: np.ndarray  # (N,) bool: False where the points were interpolated from neighbouring frames
    detection_score: np.ndarray  # (N,) float32 face-detector confidence, 0 where no face was found

    @property
    def tracked_ratio(self) -> float:
        return float(self.tracked.mean())


def inter_ocular_px(points: np.ndarray) -> np.ndarray:
    """(..., 478, >=2) -> (...) distance between the outer eye corners, pixels."""
    return np.linalg.norm(points[..., OUTER_EYE_CORNERS[0], :2] - points[..., OUTER_EYE_CORNERS[1], :2], axis=-1)


def mouth_open_ratio(points: np.ndarray) -> np.ndarray:
    """(..., 478, >=2) -> (...) inner-lip gap over the outer-eye-corner distance (2D: identity- and scale-robust)."""
    gap = np.linalg.norm(points[..., UPPER_INNER_LIP_CENTRE, :2] - points[..., LOWER_INNER_LIP_CENTRE, :2], axis=-1)
    return gap / inter_ocular_px(points)


def eye_openness(points: np.ndarray) -> np.ndarray:
    """(..., 478, >=2) -> (...) lid gap over eye width, mean of both eyes."""
    ratios = []
    for upper, lower, corners in ((159, 145, (33, 133)), (386, 374, (263, 362))):
        gap = np.linalg.norm(points[..., upper, :2] - points[..., lower, :2], axis=-1)
        width = np.linalg.norm(points[..., corners[0], :2] - points[..., corners[1], :2], axis=-1)
        ratios.append(gap / width)
    return (ratios[0] + ratios[1]) / 2


def plausible(points: np.ndarray, image_size: int, typical_iod: float) -> np.ndarray:
    """(N, 478, 3) -> (N,) bool: most points inside the image and eyes not collapsed (profile views)."""
    inside = ((points[..., :2] >= 0) & (points[..., :2] < image_size)).all(axis=-1).mean(axis=-1)
    return (inside >= 0.9) & (inter_ocular_px(points) >= 0.5 * typical_iod)


def fill_untracked(points: np.ndarray, tracked: np.ndarray) -> np.ndarray:
    """Linear interpolation over time for untracked frames; the nearest tracked frame before the first/after the "
    "last."""
    filled = points.copy()
    good = np.flatnonzero(tracked)
    bad = np.flatnonzero(~tracked)
    if len(bad) == 0 or len(good) == 0:
        return filled
    flat = points[good].reshape(len(good), -1)
    for column in range(flat.shape[1]):
        filled.reshape(len(points), -1)[bad, column] = np.interp(bad, good, flat[:, column])
    return filled


def track_landmarks(
    frames: np.ndarray,
    label: str = "frames",
    progress: Callable[[int, int], None] | None = None,
    min_tracked_ratio: float = MIN_TRACKED_RATIO,
) -> LandmarkTrack:
    """FaceMesh in tracking (video) mode over (N, S, S, 3) uint8 frames, with detector confidence per frame.

    Frames without a plausible face are flagged and filled by interpolation; a clip where fewer than
    ``min_tracked_ratio`` of the frames track is rejected.
    """
    from cosavatar_pipeline.video.crop import FaceDetector

    count, size = len(frames), frames.shape[1]
    points = np.zeros((count, LANDMARK_COUNT, 3), np.float32)
    detected = np.zeros(count, bool)
    scores = np.zeros(count, np.float32)
    with FaceMesh(video_mode=True) as mesh, FaceDetector() as detector:
        for index in range(count):
            frame = np.asarray(frames[index])
            found = mesh.detect(frame)
            if found is not None:
                points[index], detected[index] = found, True
            faces = detector.detect(frame)
            scores[index] = faces[0].score if faces else 0.0
            if progress and ((index + 1) % 50 == 0 or index + 1 == count):
                progress(index + 1, count)
    typical_iod = float(np.median(inter_ocular_px(points[detected]))) if detected.any() else 0.0
    tracked = detected & plausible(points, size, typical_iod)
    if tracked.mean() < min_tracked_ratio:
        raise InputError(
            label,
            f"the face tracks in only {int(tracked.sum())} of {count} frames (at least {min_tracked_ratio:.0%} "
            "needed): the face leaves the frame or turns away for most of the clip",
        )
    return LandmarkTrack(points=fill_untracked(points, tracked), tracked=tracked, detection_score=scores)
