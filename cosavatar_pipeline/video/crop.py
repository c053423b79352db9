"""Choose one fixed, square, face-centred crop for a whole clip from mediapipe face detections."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from cosavatar_pipeline.errors import InputError

# Fraction of the crop height the face-detector box should take: head and shoulders in view.
FACE_HEIGHT_FRACTION = 0.45
# The face box centre sits this far down the crop, leaving room for the shoulders below.
FACE_CENTRE_FROM_TOP = 0.42
# A second face at least this large (area, relative to the largest) makes the subject ambiguous.
SECOND_FACE_AREA_RATIO = 0.35
DETECTION_MAX_SIDE = 640


@dataclass(frozen=True)
class FaceBox:
    """A detected face in source pixels."""

    x: float
    y: float
    width: float
    height: float
    score: float

    @property
    def area(self) -> float:
        return self.width * self.height


@dataclass(frozen=True)
class CropBox:
    """Square crop in source pixels: rows [top, top+size), columns [left, left+size)."""

    left: int
    top: int
    size: int
    face_height_fraction: float  # median face-box height / crop size, as achieved after clamping

    def as_dict(self) -> dict:
        return asdict(self)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        return frame[self.top : self.top + self.size, self.left : self.left + self.size]


@dataclass(frozen=True)
class CropPlacement:
    """Where the S×S crop lies in the native (H, W) frame: source pixels [top, top+size) × [left, left+size). The
    square may reach past the frame's edges; only what lies inside is pasted."""

    left: int
    top: int
    size: int
    resolution: int  # S
    frame_height: int
    frame_width: int

    @property
    def scale(self) -> float:
        """Native pixels per crop pixel."""
        return self.size / self.resolution

    def visible(self) -> tuple[slice, slice, slice, slice]:
        """(frame rows, frame columns, crop rows, crop columns) of the part of the square inside the frame, the
        crop's in native pixels (0..size)."""
        top, bottom = max(self.top, 0), min(self.top + self.size, self.frame_height)
        left, right = max(self.left, 0), min(self.left + self.size, self.frame_width)
        if bottom <= top or right <= left:
            raise ValueError(f"crop box {self} lies outside its {self.frame_width}x{self.frame_height} frame")
        return (
            slice(top, bottom),
            slice(left, right),
            slice(top - self.top, bottom - self.top),
            slice(left - self.left, right - self.left),
        )

    @classmethod
    def of(cls, crop: dict, resolution: int, frame_height: int, frame_width: int) -> "CropPlacement":
        """From a ``CropBox`` as the frames stage records it (``as_dict``)."""
        return cls(crop["left"], crop["top"], crop["size"], resolution, frame_height, frame_width)


class FaceDetector:
    """mediapipe's full-range face detector (the model ships inside the mediapipe 0.10.21 wheel)."""

    def __init__(self, min_confidence: float = 0.5):
        import mediapipe as mp

        self._detector = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=min_confidence
        )

    def __enter__(self) -> "FaceDetector":
        return self

    def __exit__(self, *exc) -> None:
        self._detector.close()

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        height, width = rgb.shape[:2]
        scale = min(1.0, DETECTION_MAX_SIDE / max(height, width))
        small = (
            cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
            if scale < 1
            else rgb
        )
        result = self._detector.process(np.ascontiguousarray(small))
        faces = []
        for detection in result.detections or []:
            box = detection.location_data.relative_bounding_box
            faces.append(
                FaceBox(
                    x=box.xmin * width,
                    y=box.ymin * height,
                    width=box.width * width,
                    height=box.height * height,
                    score=float(detection.score[0]),
                )
            )
        return sorted(faces, key=lambda f: f.area, reverse=True)


def choose_crop(
    faces_per_frame: list[list[FaceBox]],
    frame_times: list[float],
    frame_width: int,
    frame_height: int,
    source: str | Path,
) -> CropBox:
    """One crop for the clip, from the median face box over the sampled frames.

    Fails when no face is found in most sampled frames, or when two faces of similar size are present.
    """
    with_face = [(faces, t) for faces, t in zip(faces_per_frame, frame_times) if faces]
    if len(with_face) < max(1, len(faces_per_frame) // 2):
        raise InputError(
            source, f"no face found: a face was detected in {len(with_face)} of {len(faces_per_frame)} sampled frames"
        )
    for faces, t in with_face:
        if len(faces) >= 2 and faces[1].area >= SECOND_FACE_AREA_RATIO * faces[0].area:
            raise InputError(
                source,
                f"two faces of similar size at {t:.2f} s (areas {faces[0].area:.0f} and {faces[1].area:.0f} px²): "
                "the pipeline needs one subject; crop the video to one person first",
            )
    main_faces = [faces[0] for faces, _ in with_face]
    centre_x = float(np.median([f.x + f.width / 2 for f in main_faces]))
    centre_y = float(np.median([f.y + f.height / 2 for f in main_faces]))
    face_height = float(np.median([f.height for f in main_faces]))

    size = int(round(min(face_height / FACE_HEIGHT_FRACTION, frame_width, frame_height)))
    left = int(round(np.clip(centre_x - size / 2, 0, frame_width - size)))
    top = int(round(np.clip(centre_y - FACE_CENTRE_FROM_TOP * size, 0, frame_height - size)))
    return CropBox(left=left, top=top, size=size, face_height_fraction=face_height / size)
