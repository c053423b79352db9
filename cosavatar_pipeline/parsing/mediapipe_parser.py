"""Default parser from models that ship in mediapipe 0.10.21.

Person vs background from selfie segmentation; face parts from FaceMesh polygons; hair, skin (neck, ears) and
clothes outside the face by per-video colour models (learned from unambiguous regions: cheeks, the hair above the
forehead, clothes at the bottom of the frame) combined with soft position priors around the face. Colour is what
separates hair falling beside the neck from the clothes under it, which position rules alone cannot. Class
posteriors and the person probability are averaged over 3 consecutive frames so regions do not flicker.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from cosavatar_pipeline.parsing import labels as L
from cosavatar_pipeline.parsing.colour_model import ColourModel, fit_colour_model, to_lab
from cosavatar_pipeline.parsing.face_regions import CONTOURS, face_label_map

CLASSES = ("hair", "skin", "clothes")
TRAINING_FRAMES = 8
TEMPORAL_WINDOW = 3
HAIR_INSIDE_FACE_MARGIN = 3.0  # nats by which hair must beat skin to claim forehead/temple pixels
HAIRLINE_BAND = 0.15  # ... and only this close (in face heights) to the face oval's edge


@dataclass(frozen=True)
class FaceFrame:
    """Face geometry of one frame, in pixels."""

    centre: np.ndarray  # (2,)
    width: float
    height: float
    brow_y: float
    eye_y: float
    chin_y: float

    @classmethod
    def from_landmarks(cls, points: np.ndarray) -> "FaceFrame":
        oval = points[CONTOURS["oval"], :2]
        brows = points[CONTOURS["left_brow"] + CONTOURS["right_brow"], :2]
        eyes = points[CONTOURS["left_eye"] + CONTOURS["right_eye"], :2]
        return cls(
            centre=oval.mean(axis=0),
            width=float(np.ptp(oval[:, 0])),
            height=float(np.ptp(oval[:, 1])),
            brow_y=float(brows[:, 1].mean()),
            eye_y=float(eyes[:, 1].mean()),
            chin_y=float(points[152, 1]),
        )

    def normalised_grid(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
        return (xs - self.centre[0]) / self.width, (ys - self.centre[1]) / self.height


def position_log_priors(face: FaceFrame, size: int) -> np.ndarray:
    """(3, S, S) log priors for hair, skin, clothes from where a pixel sits relative to the face."""
    u, v = face.normalised_grid(size)
    r = np.sqrt(u**2 + ((v + 0.1) / 1.5) ** 2)
    hair = -4.0 * np.maximum(0.0, r - 1.0)
    hair = np.where((v > 0.55) & (np.abs(u) < 0.3), hair - 3.0, hair)  # in front of the neck
    neck_band = (np.abs(u) < 0.4) & (v > 0.3)
    ears = (np.abs(u) < 0.75) & (v > -0.2) & (v < 0.45)
    skin = np.where(neck_band | ears, 0.0, -3.0)
    clothes = np.where(v < 0.45, -6.0, 0.0)
    return np.stack([hair, skin, clothes]).astype(np.float32)


class MediapipeParser:
    name = "mediapipe-selfie+facemesh+colour"

    def __init__(self, temporal_window: int = TEMPORAL_WINDOW):
        self.temporal_window = temporal_window
        self.models: dict[str, ColourModel | None] = {}

    # ---- training ------------------------------------------------------------------------------------------
    def _training_samples(self, frames, landmarks, person_probability) -> dict[str, np.ndarray]:
        size = frames.shape[1]
        kernel = np.ones((max(3, size // 64),) * 2, np.uint8)
        samples: dict[str, list[np.ndarray]] = {name: [] for name in CLASSES}
        for index in np.linspace(0, len(frames) - 1, min(TRAINING_FRAMES, len(frames))).round().astype(int):
            lab = to_lab(np.asarray(frames[index]))
            face = FaceFrame.from_landmarks(landmarks[index])
            face_map = face_label_map(landmarks[index], size)
            person = person_probability(index) > 0.5
            ys, xs = np.mgrid[0:size, 0:size] + 0.5
            oval_dilated = cv2.dilate((face_map > 0).astype(np.uint8), kernel, iterations=2) > 0
            cheeks = cv2.erode((face_map == L.SKIN).astype(np.uint8), kernel) > 0
            samples["skin"].append(lab[cheeks & (ys > face.eye_y)])
            above_forehead = (
                person & ~oval_dilated & (ys < face.brow_y) & (np.abs(xs - face.centre[0]) < 0.9 * face.width)
            )
            # well inside the person mask: its soft edge mixes in background colours
            samples["hair"].append(lab[cv2.erode(above_forehead.astype(np.uint8), kernel, iterations=3) > 0])
            bottom = (
                cv2.erode((person & (ys > max(0.88 * size, face.chin_y + 0.3 * face.height))).astype(np.uint8), kernel)
                > 0
            )
            samples["clothes"].append(lab[bottom])
        return {
            name: np.concatenate(parts) if parts else np.zeros((0, 3), np.float32) for name, parts in samples.items()
        }

    def fit(self, frames, landmarks, person_probability) -> None:
        samples = self._training_samples(frames, landmarks, person_probability)
        skin = fit_colour_model("skin", samples["skin"])
        clothes, hair = samples["clothes"], samples["hair"]
        if skin is not None:
            typical_skin = np.percentile(skin.log_likelihood(samples["skin"]), 10)
            # bottom-of-frame skin (a V-neck, bare shoulders) is not clothing, and forehead skin above the face
            # oval (a high forehead, a receding hairline) is not hair
            if len(clothes):
                clothes = clothes[skin.log_likelihood(clothes) < typical_skin]
            if len(hair):
                hair = hair[skin.log_likelihood(hair) < typical_skin]
        self.models = {
            "hair": fit_colour_model("hair", hair),
            "skin": skin,
            "clothes": fit_colour_model("clothes", clothes),
        }

    # ---- inference -----------------------------------------------------------------------------------------
    def _class_probabilities(self, frame: np.ndarray, face: FaceFrame) -> np.ndarray:
        """(3, S, S) posterior of hair / skin / clothes for every pixel (used outside the face and at its edge)."""
        size = frame.shape[0]
        lab = to_lab(frame).reshape(-1, 3)
        logits = position_log_priors(face, size).reshape(3, -1).copy()
        for row, name in enumerate(CLASSES):
            model = self.models.get(name)
            logits[row] += model.log_likelihood(lab) if model is not None else -1e4
        logits -= logits.max(axis=0, keepdims=True)
        probabilities = np.exp(logits)
        return (probabilities / probabilities.sum(axis=0, keepdims=True)).reshape(3, size, size)

    def _label(self, face_map: np.ndarray, person: np.ndarray, classes: np.ndarray, face: FaceFrame) -> np.ndarray:
        size = face_map.shape[0]
        _, v = face.normalised_grid(size)
        choice = np.argmax(classes, axis=0)
        outside = np.select(
            [choice == 0, (choice == 1) & (v > 0.4), choice == 1],
            [L.HAIR, L.NECK, L.SKIN],
            default=L.CLOTH,
        ).astype(np.uint8)
        labels = np.where(person, outside, L.BACKGROUND).astype(np.uint8)
        inside = face_map > 0
        labels[inside] = face_map[inside]
        # hair over the forehead and temples (bangs, side parts) wins inside the face oval only when clearly hair
        ys = np.arange(size)[:, None] + 0.5
        inside_oval = (face_map > 0).astype(np.uint8)
        from_edge = cv2.distanceTransform(inside_oval, cv2.DIST_L2, 3)
        forehead = (face_map == L.SKIN) & (ys < face.eye_y) & (from_edge < HAIRLINE_BAND * face.height)
        hair_margin = np.log(classes[0] + 1e-6) - np.log(classes[1] + 1e-6)
        labels[forehead & (hair_margin > HAIR_INSIDE_FACE_MARGIN)] = L.HAIR
        return self._hair_attached_to_head(labels, face, v)

    @staticmethod
    def _hair_attached_to_head(labels: np.ndarray, face: FaceFrame, v: np.ndarray) -> np.ndarray:
        """Hair is one mass attached to the head: hair-coloured blobs elsewhere (dark clothes) are not hair."""
        hair = (labels == L.HAIR).astype(np.uint8)
        count, components = cv2.connectedComponents(hair, connectivity=8)
        if count <= 2:
            return labels
        crown = v < 0.0  # the upper half of the face's height band and above
        keep = np.zeros(count, bool)
        keep[np.unique(components[(components > 0) & crown])] = True
        stray = (components > 0) & ~keep[components]
        labels[stray & (v > 0.4)] = L.CLOTH
        labels[stray & (v <= 0.4)] = L.SKIN
        return labels

    def parse(
        self, frames: np.ndarray, landmarks: np.ndarray, progress: Callable[[int, int], None] | None = None
    ) -> Iterator[np.ndarray]:
        import mediapipe as mp

        count, size = len(frames), frames.shape[1]
        half = self.temporal_window // 2
        with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as segmenter:
            person_cache: dict[int, np.ndarray] = {}

            def person_probability(index: int) -> np.ndarray:
                if index not in person_cache:
                    result = segmenter.process(np.ascontiguousarray(frames[index]))
                    person_cache[index] = cv2.resize(result.segmentation_mask, (size, size)).astype(np.float32)
                return person_cache[index]

            self.fit(frames, landmarks, person_probability)
            faces = [FaceFrame.from_landmarks(points) for points in landmarks]
            window: deque[tuple[int, np.ndarray, np.ndarray]] = deque()
            next_to_compute = 0
            for index in range(count):
                while next_to_compute <= min(count - 1, index + half):
                    window.append(
                        (
                            next_to_compute,
                            person_probability(next_to_compute),
                            self._class_probabilities(np.asarray(frames[next_to_compute]), faces[next_to_compute]),
                        )
                    )
                    next_to_compute += 1
                while window[0][0] < index - half:
                    person_cache.pop(window[0][0], None)
                    window.popleft()
                person = np.mean([p for _, p, _ in window], axis=0) > 0.5
                classes = np.mean([c for _, _, c in window], axis=0)
                face_map = face_label_map(landmarks[index], size)
                yield self._label(face_map, person | (face_map > 0), classes, faces[index])
                if progress and ((index + 1) % 50 == 0 or index + 1 == count):
                    progress(index + 1, count)
