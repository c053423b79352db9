"""Where a frame is edited at the image editor's own resolution: a square window around the head and the edit's
region, cut out and resized to ``resolution`` (Stable Diffusion's UNet is trained at 512 px; a 128 px render would
come back as mush), edited, then resized back and pasted in place. Regions that span the frame (``person``,
``all``, ``background``) are edited on the whole frame, upscaled."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cosavatar_pipeline.video.crop import CropPlacement

WHOLE_FRAME_REGIONS = ("person", "all", "background")
HEAD_MARGIN = 0.1  # of the square's side, left free around the face and the region on each side


@dataclass(frozen=True)
class EditWindow:
    """A square of the frame, inside it: columns x0..x0+side, rows y0..y0+side (pixels)."""

    x0: int
    y0: int
    side: int

    def crop(self, image: np.ndarray, resolution: int) -> np.ndarray:
        """(H, W, ...) -> (resolution, resolution, ...): the window, resized (cubic up, area down)."""
        window = np.ascontiguousarray(image[self.y0 : self.y0 + self.side, self.x0 : self.x0 + self.side])
        return _resize(window, resolution)

    def crop_native(self, native: np.ndarray, placement: CropPlacement, resolution: int) -> np.ndarray | None:
        """The same window cut from the native frame (H, W, 3) the crop was taken from, resized to ``resolution``
        (area down, cubic up): the sharp original. None when the window reaches past the native frame."""
        scale = placement.scale
        left, top = round(placement.left + self.x0 * scale), round(placement.top + self.y0 * scale)
        side = round(self.side * scale)
        if left < 0 or top < 0 or left + side > native.shape[1] or top + side > native.shape[0]:
            return None
        return _resize(native[top : top + side, left : left + side], resolution)

    def paste(self, edited: np.ndarray, onto: np.ndarray) -> np.ndarray:
        """``onto`` (H, W, 3) with the window replaced by ``edited`` (R, R, 3) resized back to the window."""
        pasted = np.array(onto)
        pasted[self.y0 : self.y0 + self.side, self.x0 : self.x0 + self.side] = _resize(edited, self.side)
        return pasted


def whole_frame(height: int, width: int) -> EditWindow:
    if height != width:
        raise ValueError(f"frames are square at every preset; got {width}x{height}")
    return EditWindow(0, 0, height)


def edit_window(
    region: str, region_mask: np.ndarray, face_points: np.ndarray, margin: float = HEAD_MARGIN
) -> EditWindow:
    """The square the editor sees for one frame.

    region: the edit's region name; region_mask: (H, W) bool, where that region lies in this frame; face_points:
    (L, 2+) landmark pixel coordinates (x, y). The square holds the face and the region with ``margin`` around
    them, shifted to lie inside the frame; the whole frame when the region spans it or the square would not fit.
    """
    height, width = region_mask.shape
    if region in WHOLE_FRAME_REGIONS:
        return whole_frame(height, width)
    xs, ys = face_points[:, 0], face_points[:, 1]
    rows, columns = np.nonzero(region_mask)
    left, right = min(xs.min(), columns.min(initial=width)), max(xs.max(), columns.max(initial=0))
    top, bottom = min(ys.min(), rows.min(initial=height)), max(ys.max(), rows.max(initial=0))
    side = int(np.ceil(max(right - left, bottom - top) / (1 - 2 * margin)))
    if side >= min(height, width):
        return whole_frame(height, width)
    x0 = int(np.clip(round((left + right) / 2 - side / 2), 0, width - side))
    y0 = int(np.clip(round((top + bottom) / 2 - side / 2), 0, height - side))
    return EditWindow(x0, y0, side)


def _resize(image: np.ndarray, side: int) -> np.ndarray:
    if image.shape[0] == side and image.shape[1] == side:
        return np.ascontiguousarray(image)
    interpolation = cv2.INTER_CUBIC if side > image.shape[0] else cv2.INTER_AREA
    return cv2.resize(np.ascontiguousarray(image), (side, side), interpolation=interpolation)
