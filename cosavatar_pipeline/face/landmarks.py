"""mediapipe FaceMesh (478 landmarks with irises); the model ships inside the mediapipe 0.10.21 wheel."""

from __future__ import annotations

import numpy as np

LANDMARK_COUNT = 478

# Landmark index sets on mediapipe's canonical face mesh.
LOWER_LIP = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LOWER_INNER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
UPPER_LID_RIGHT = (246, 161, 160, 159, 158, 157, 173)  # subject's right eye, image left
LOWER_LID_RIGHT = (7, 163, 144, 145, 153, 154, 155)
UPPER_LID_LEFT = (466, 388, 387, 386, 385, 384, 398)
LOWER_LID_LEFT = (249, 390, 373, 374, 380, 381, 382)
UPPER_INNER_LIP_CENTRE, LOWER_INNER_LIP_CENTRE, CHIN = 13, 14, 152
MOUTH_CORNERS = (61, 291)
RIGHT_IRIS, LEFT_IRIS = tuple(range(468, 473)), tuple(range(473, 478))


class FaceMesh:
    """Landmarks of the largest face: (478, 3) float32, x and y in pixels, z relative depth in pixels.

    ``video_mode`` tracks across consecutive frames (mediapipe's tracking); otherwise each image is detected anew.
    """

    def __init__(self, video_mode: bool = True, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5):
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
