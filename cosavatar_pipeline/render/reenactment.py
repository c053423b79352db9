"""How faithfully a reenacted render shows the driver's expressions, and whether it still looks like the target:
landmarks re-detected on the rendered frames, fitted with the same face model, compared in canonical space."""

from __future__ import annotations

import numpy as np

from cosavatar_pipeline.face import landmarks as lm
from cosavatar_pipeline.face.fitting import FitConfig, fit_face_model
from cosavatar_pipeline.face.geometry import rigid_align
from cosavatar_pipeline.face.landmarks import track_landmarks
from cosavatar_pipeline.face.model import FaceModel
from cosavatar_pipeline.face.motion import DrivingMotion

MOUTH_POINTS = np.array(sorted(set(lm.LOWER_LIP) | {lm.UPPER_INNER_LIP_CENTRE, *lm.MOUTH_CORNERS}))


def inter_ocular_mm(shape: np.ndarray) -> float:
    left, right = lm.OUTER_EYE_CORNERS
    return float(np.linalg.norm(shape[left] - shape[right]))


def reenactment_figures(rendered: np.ndarray, motion: DrivingMotion, target: FaceModel) -> dict[str, float]:
    """Figures in % of the target's inter-ocular distance (outer eye corners), means over frames:

    - ``expression_transfer_error_pct``: re-detected displacements vs the driver's, over all 478 points, and
      ``..._mouth_pct`` over the mouth; ``no_motion_error_pct`` is what showing no expression at all would score
      (the driver's own displacement size), the scale to read the error against;
    - ``identity_drift_pct``: the re-detected neutral shape vs the target's identity, after rigid alignment.

    The re-detected sequence is fitted with its neutral frame set to the driver's (where the driver's displacement
    is smallest), so both displacement series are measured from the same moment.
    """
    driver = motion.displacements
    neutral = int(np.argmin(np.linalg.norm(driver, axis=-1).mean(axis=1)))
    track = track_landmarks(rendered, label="reenacted frames")
    fitted = fit_face_model(track, rendered.shape[1], FitConfig(neutral_frame=neutral)).model
    measured = fitted.displacements
    iod = inter_ocular_mm(target.identity)

    def per_frame(difference: np.ndarray, points=slice(None)) -> np.ndarray:
        return np.linalg.norm(difference[:, points], axis=-1).mean(axis=1) / iod * 100

    rotation, translation = rigid_align(fitted.identity, target.identity)
    aligned_identity = fitted.identity @ rotation.T + translation
    return {
        "expression_transfer_error_pct": float(per_frame(measured - driver).mean()),
        "expression_transfer_error_mouth_pct": float(per_frame(measured - driver, MOUTH_POINTS).mean()),
        "no_motion_error_pct": float(per_frame(driver).mean()),
        "no_motion_error_mouth_pct": float(per_frame(driver, MOUTH_POINTS).mean()),
        "identity_drift_pct": float(np.linalg.norm(aligned_identity - target.identity, axis=-1).mean() / iod * 100),
        "reenacted_tracked_ratio": float(track.tracked_ratio),
    }
