"""The edit's region continued past the crop box's edge, in the native frame.

The avatar sees only its square crop. A region the crop's edge cuts (the crown of the head above a tight crop,
long hair below it) would end in a straight seam once the edit is delivered in the whole frame: pink hair under a
black cap. Past each edge of the crop that lies inside the frame, native pixels connected to the region across
the edge whose colour lies on the region's side of the line between the region's and its surroundings' colours at
the edge take the edge's change, in their share of that line, as delivery's rim does inside the crop. Where the
two colours are not told apart clearly, the region stops at the edge as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cosavatar_pipeline.video.crop import CropPlacement

REACH = 0.15  # how far past the crop's edge the region may continue, as a share of the crop's native size
EDGE_DEPTH = 2.0  # crop pixels inside the edge whose native colours describe the region and its surroundings
MIN_SEPARATION = 2.0  # region and surroundings colours apart by this many times their summed spreads (full at 4x)


@dataclass
class Edge:
    """One side of the delivered rectangle, turned so the crop lies below and the frame past the edge above:
    ``guide`` and ``weight`` rows run from the edge inward, ``beyond``'s from the edge outward."""

    guide: np.ndarray  # (k, w, 3) float: the native pixels of the first k rows inside the edge
    weight: np.ndarray  # (k, w): how much of the edit each shows
    change: np.ndarray  # (w, 3): the change the region's pixels on the edge row get in full
    beyond: np.ndarray  # (r, w, 3) float: the native pixels past the edge, nearest first


def continued(edge: Edge) -> np.ndarray | None:
    """(r, w) weight of the edit for the pixels past the edge (their share of the region), or None where the region
    does not reach the edge or its colour cannot be told from its surroundings'."""
    region, surroundings = edge.weight >= 0.5, edge.weight == 0
    if region[0].sum() < 2 or surroundings.sum() < 2 or len(edge.beyond) == 0:
        return None
    inner, outer = edge.guide[region], edge.guide[surroundings]
    hair, back = inner.mean(0), outer.mean(0)
    line = hair - back
    spread = np.linalg.norm(inner.std(0)) + np.linalg.norm(outer.std(0)) + 1
    trust = float(np.clip(np.linalg.norm(line) / spread / MIN_SEPARATION - 1, 0, 1))
    if trust == 0:
        return None
    share = np.clip(((edge.beyond - back) @ line) / max(float(line @ line), 1.0), 0, 1)
    alive = region[0]
    reached = np.zeros(share.shape, bool)
    widen = np.ones(3, np.uint8)
    for row, shares in enumerate(share):
        alive = (cv2.dilate(alive.astype(np.uint8)[None], widen[None]) > 0)[0] & (shares > 0.5)
        if not alive.any():
            break
        reached[row] = alive
    rim = cv2.dilate(reached.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return (trust * share * rim).astype(np.float32)


def edge_change(edge: Edge) -> np.ndarray:
    """(w, 3): the edge row's change, carried along the row from the region's pixels to the others."""
    on = (edge.weight[0] >= 0.5).astype(np.float32)
    sigma = max(2.0, 0.05 * len(on))
    weight = cv2.GaussianBlur(on[None], (0, 0), sigma)[0]
    spread = cv2.GaussianBlur((edge.change * on[:, None])[None], (0, 0), sigma)[0]
    return np.where(on[:, None] > 0, edge.change, spread / np.maximum(weight, 1e-3)[:, None])


@dataclass
class Continuation:
    """The delivered rectangle grown past the crop's edges: new native rows × columns and the weight over them."""

    rows: slice
    columns: slice
    weight: np.ndarray  # (h, w)
    change: np.ndarray  # (h, w, 3): added in ``weight``'s share

    @property
    def rectangle(self) -> tuple[slice, slice]:
        return self.rows, self.columns


# views that turn each side of an (h, w[, 3]) array to the top
_SIDES = {
    "top": lambda a: a,
    "bottom": np.flipud,
    "left": lambda a: np.rot90(a, -1),
    "right": lambda a: np.rot90(a, 1),
}


def continue_past_the_crop(
    native: np.ndarray, rows: slice, columns: slice, weight: np.ndarray, change: np.ndarray, placement: CropPlacement
) -> Continuation:
    """native: (H, W, 3) uint8; rows, columns: the delivered rectangle (native pixels), ``weight`` (h, w) and
    ``change`` (h, w, 3) over it. Grows the rectangle past each crop edge it touches that lies inside the frame,
    by at most ``REACH`` of the crop's size, with the continued region's weight and change there."""
    frame_rows, frame_columns, _, _ = placement.visible()
    height, width = native.shape[:2]
    reach = max(1, round(REACH * placement.size))
    depth = max(1, round(EDGE_DEPTH * placement.scale))
    top = max(rows.start - reach, 0) if rows.start == frame_rows.start else rows.start
    bottom = min(rows.stop + reach, height) if rows.stop == frame_rows.stop else rows.stop
    left = max(columns.start - reach, 0) if columns.start == frame_columns.start else columns.start
    right = min(columns.stop + reach, width) if columns.stop == frame_columns.stop else columns.stop
    grown = Continuation(
        slice(top, bottom),
        slice(left, right),
        np.zeros((bottom - top, right - left), np.float32),
        np.zeros((bottom - top, right - left, 3), np.float32),
    )
    inner = np.zeros(grown.weight.shape, bool)
    inner[rows.start - top : rows.stop - top, columns.start - left : columns.stop - left] = True
    grown.weight[inner] = weight.ravel()
    grown.change[inner] = change.reshape(-1, 3)
    area = native[top:bottom, left:right].astype(np.float32)
    for turn in _SIDES.values():
        _continue_upward(turn(area), turn(inner), turn(grown.weight), turn(grown.change), depth)
    return grown


def _continue_upward(area, inner, weight, change, depth: int) -> None:
    """The top side of one turned view: fills ``weight`` and ``change`` (views, written in place) above the inner
    rectangle."""
    filled_rows = np.nonzero(inner.any(axis=1))[0]
    filled_columns = np.nonzero(inner.any(axis=0))[0]
    r0, c0, c1 = filled_rows[0], filled_columns[0], filled_columns[-1] + 1
    if r0 == 0:
        return
    edge = Edge(
        area[r0 : r0 + depth, c0:c1],
        weight[r0 : r0 + depth, c0:c1],
        change[r0, c0:c1],
        area[r0 - 1 :: -1, c0:c1],
    )
    share = continued(edge)
    if share is not None:
        weight[r0 - 1 :: -1, c0:c1] = share
        change[r0 - 1 :: -1, c0:c1] = edge_change(edge)[None]
