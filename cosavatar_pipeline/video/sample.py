"""The bundled demo clips: synthetic, made from scikit-image's public-domain ``astronaut`` portrait (NASA).

Nothing here is real video. The still is animated by a piecewise-affine warp driven by moved face-mesh
landmarks (mouth opening, blinks) plus a smooth rigid head motion over a static border, so that the face model
downstream sees real expression and pose change. A second clip, mirrored and re-tinted with other motion, is the
demo's reenactment driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.interpolate import LinearNDInterpolator

from cosavatar_pipeline.errors import CosavatarError
from cosavatar_pipeline.face import landmarks as lm
from cosavatar_pipeline.video.encode import write_mp4


@dataclass(frozen=True)
class Motion:
    """Smooth, deterministic motion curves for one clip (seconds in, amounts out)."""

    mouth_rate_hz: float
    mouth_amount: float  # lower-lip drop at full opening, in mouth widths
    blink_times_s: tuple[float, ...]
    yaw_like_shift_px: float  # horizontal head sway
    roll_deg: float
    nod_px: float

    def mouth(self, t: float) -> float:
        syllables = np.abs(np.sin(np.pi * self.mouth_rate_hz * t)) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.37 * t) ** 2)
        return float(self.mouth_amount * syllables)

    def blink(self, t: float) -> float:
        return float(max((np.exp(-(((t - b) / 0.06) ** 2)) for b in self.blink_times_s), default=0.0))

    def head(self, t: float) -> tuple[float, float, float]:
        return (
            self.yaw_like_shift_px * np.sin(2 * np.pi * t / 3.3),
            self.nod_px * np.sin(2 * np.pi * t / 2.1 + 0.8),
            self.roll_deg * np.sin(2 * np.pi * t / 4.1 + 0.3),
        )


TALKING = Motion(
    mouth_rate_hz=2.2, mouth_amount=0.28, blink_times_s=(0.9, 2.6, 3.7), yaw_like_shift_px=7.0, roll_deg=4.0, nod_px=4.0
)
DRIVING = Motion(
    mouth_rate_hz=0.9, mouth_amount=0.32, blink_times_s=(1.5, 3.1), yaw_like_shift_px=4.0, roll_deg=-6.0, nod_px=7.0
)


def _portrait() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def _expression_displacements(points: np.ndarray, mouth: float, blink: float) -> np.ndarray:
    """Per-landmark 2D displacement (pixels) for a mouth opening and a blink."""
    xy = points[:, :2]
    displacement = np.zeros_like(xy)
    mouth_width = np.linalg.norm(xy[lm.MOUTH_CORNERS[0]] - xy[lm.MOUTH_CORNERS[1]])
    lip_line = (xy[lm.UPPER_INNER_LIP_CENTRE, 1] + xy[lm.LOWER_INNER_LIP_CENTRE, 1]) / 2
    chin_depth = xy[lm.CHIN, 1] - lip_line
    centre_x = xy[lm.CHIN, 0]
    face_half_width = 0.5 * (xy[:, 0].max() - xy[:, 0].min())
    # The jaw drops: points below the lip line move down, the most near the chin's midline.
    below = np.clip((xy[:, 1] - lip_line) / (0.25 * chin_depth), 0, 1)
    midline = np.clip(1 - np.abs(xy[:, 0] - centre_x) / face_half_width, 0, 1) ** 0.5
    weight = below * midline
    weight[list(lm.LOWER_LIP)] = np.maximum(weight[list(lm.LOWER_LIP)], 0.9)
    displacement[:, 1] += mouth * mouth_width * weight
    for upper, lower in ((lm.UPPER_LID_RIGHT, lm.LOWER_LID_RIGHT), (lm.UPPER_LID_LEFT, lm.LOWER_LID_LEFT)):
        displacement[list(upper)] += 0.95 * blink * (xy[list(lower)] - xy[list(upper)])
    return displacement


def _rigid(points: np.ndarray, centre: np.ndarray, shift_x: float, shift_y: float, roll_deg: float) -> np.ndarray:
    angle = np.deg2rad(roll_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (points - centre) @ rotation.T + centre + np.array([shift_x, shift_y])


def render_clip(image: np.ndarray, points: np.ndarray, motion: Motion, seconds: float, fps: float):
    """Yield (H, W, 3) frames: the warped portrait at each time step."""
    height, width = image.shape[:2]
    # Iris points sit inside the eye: pinning them would keep the eye open through a blink.
    points = points[: lm.RIGHT_IRIS[0]]
    source_xy = points[:, :2].astype(np.float64)
    centre = source_xy.mean(axis=0)
    # Fixed anchors keep the frame border and shoulders still (static camera, moving head).
    border = np.array(
        [
            (x, y)
            for x in np.linspace(0, width - 1, 9)
            for y in np.linspace(0, height - 1, 9)
            if x in (0, width - 1) or y in (0, height - 1) or y > centre[1] + 0.55 * (height - centre[1])
        ]
    )
    grid_step = 2
    grid_y, grid_x = np.mgrid[0:height:grid_step, 0:width:grid_step].astype(np.float64)
    lower_inner_lip = list(lm.LOWER_INNER_LIP)
    for index in range(int(round(seconds * fps))):
        t = index / fps
        mouth, blink = motion.mouth(t), motion.blink(t)
        moved = source_xy + _expression_displacements(points, mouth, blink)
        target_xy = _rigid(moved, centre, *motion.head(t))
        # Backward map: for each output pixel, where in the still it comes from (piecewise affine).
        interpolate = LinearNDInterpolator(
            np.vstack([target_xy, border]), np.vstack([source_xy - target_xy, np.zeros_like(border)])
        )
        offset = interpolate(grid_x, grid_y)
        offset = np.nan_to_num(offset)
        map_x = cv2.resize(
            (grid_x + offset[..., 0]).astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR
        )
        map_y = cv2.resize(
            (grid_y + offset[..., 1]).astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR
        )
        frame = cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if mouth > 0.03:
            # The gap the jaw opened: between where the lower lip was (head motion only) and where it is now.
            closed_lip = _rigid(source_xy[lower_inner_lip], centre, *motion.head(t))
            gap = np.vstack([closed_lip, target_xy[lower_inner_lip][::-1]])
            mouth_hole = np.zeros((height, width), np.uint8)
            cv2.fillPoly(mouth_hole, [np.round(gap).astype(np.int32)], 255)
            alpha = (
                cv2.GaussianBlur(mouth_hole, (5, 5), 0)[..., None].astype(np.float32)
                / 255
                * min(1.0, mouth / 0.1)
                * 0.9
            )
            frame = (frame * (1 - alpha) + np.array([60, 20, 25], np.float32) * alpha).astype(np.uint8)
        yield frame


def make_sample_clips(out_dir: Path, seconds: float = 4.0, fps: float = 30.0) -> dict[str, Path]:
    """Write ``astronaut_talking.mp4`` and ``astronaut_driver.mp4`` into ``out_dir`` (skipped when present)."""
    out_dir = Path(out_dir)
    portrait = _portrait()
    driver_portrait = np.ascontiguousarray(portrait[:, ::-1])
    # A cooler, desaturated tint so the driver reads as a different clip.
    grey = driver_portrait.mean(axis=2, keepdims=True)
    driver_portrait = np.clip(0.5 * driver_portrait + 0.5 * grey * np.array([0.9, 1.0, 1.1]), 0, 255).astype(np.uint8)
    clips = {
        "astronaut_talking": (portrait, TALKING),
        "astronaut_driver": (driver_portrait, DRIVING),
    }
    paths = {}
    with lm.FaceMesh(video_mode=False) as mesh:
        for name, (image, motion) in clips.items():
            path = out_dir / f"{name}.mp4"
            paths[name] = path
            if path.exists():
                continue
            points = mesh.detect(image)
            if points is None:
                raise CosavatarError(f"no face found in the bundled portrait for {name}")
            write_mp4(path, render_clip(image, points, motion, seconds, fps), fps)
    return paths
