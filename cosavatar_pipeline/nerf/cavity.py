"""The inside of the mouth: points between a frame's parted lips are sent behind the neutral lips instead of
being stretched across them.

A smooth warp cannot open a hole. Between parted lips it interpolates the two lips' offsets, so the whole gap maps
onto the seam of the neutral mouth and renders as stretched lip (an open mouth then reads as a tall closed one, and
a driver's yawn shows lip colour smeared over the opening). The cavity gives the opening a place of its own: a
point of the frame's head space whose x/y lies inside the frame's inner-lip ring, and which is not far in front of
the lips (``FRONT_MARGIN_MM``), is sent ``depth_mm`` back, where the neutral face's field lies behind the lips in
every closed-mouth frame and is free to learn teeth and the dark mouth. It keeps its x; its y is read from the nearer
lip: a point a mm below the upper inner lip goes a mm below the neutral mouth's seam (the upper teeth), a point b mm
above the lower inner lip goes b mm above the seam (the lower lip's inside). Both sides keep their distances, so teeth
keep their size however wide the mouth opens, and a gap wider than the clip ever showed leaves a middle no training
frame lit. (Keeping y as it is showed a driver's yawn the trained openings' lower edges as rings of lip inside the
mouth; stretching every opening over one slab made the teeth tall and pale.)

That middle, farther from both lips than half the column's widest training opening, is reported as ``unseen`` and
rendered opaque in the clip's own mouth-interior colour (``AvatarModel``): the inside of a wide-open mouth.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from cosavatar_pipeline.nerf.sampler import box_grid

# mediapipe FaceMesh's inner lip ring, in order: upper lip from the right corner (78) to the left (308), then back
INNER_LIP_RING = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
CELL_MM = 0.5  # the masks' resolution on canonical x/y
EDGE_SIGMA_MM = 0.5  # soft edge of the opening
# The mouth begins this far in front of the lips' foremost landmark: mediapipe's depth is a guess, and a gap point
# left to the warp anywhere near the lips' learned surface paints stretched lip (rings of lip inside a wide mouth)
FRONT_MARGIN_MM = 10.0
FRONT_RAMP_MM = 2.0  # from air to mouth
LIPS_REACH_MM = 6.0  # the outer lips lie within this of the inner ring's box
UNSEEN_RAMP_MM = 1.0  # from lit to unseen inside the mouth
_SUBPIXEL_BITS = 4
# where the inside lands in neutral space: beside the lips' corners by up to this (a smile widens the mouth) ...
INTERIOR_MARGIN_MM = 10.0
INTERIOR_REACH_MM = 30.0  # ... and above and below their seam by up to this (half of a yawn's opening is ~20)


@dataclass
class MouthCavity:
    """Per frame, where the mouth is open on canonical x/y, each point's distances to the two lips, which of it no
    training frame lit, and where in neutral space the inside is read."""

    origin: torch.Tensor  # (2,) mm: x/y of the masks' first cell
    masks: (
        torch.Tensor
    )  # (4, F, H, W): inside the inner-lip ring [0, 1]; mm below the upper lip; mm above the lower; unseen
    front_z: float  # mm: the ramp from air to mouth starts here (z grows away from the face)
    seam_y: float  # mm: the neutral inner lips' mean y
    depth_mm: float

    @classmethod
    def build(
        cls,
        ring_neutral: np.ndarray,
        ring_offsets: np.ndarray,
        depth_mm: float,
        seen_offsets: np.ndarray | None = None,
        face_neutral: np.ndarray | None = None,
    ) -> "MouthCavity":
        """ring_neutral (M, 3) mm the inner-lip ring on the neutral face, ring_offsets (F, M, 3) mm its per-frame
        displacements (z ignored), seen_offsets (T, M, 3) the training frames' (default: these frames),
        face_neutral (L, 3) the neutral landmarks around it (default: the ring): the mouth begins FRONT_MARGIN_MM in
        front of their foremost point over the mouth (the outer lips); farther in front a gap point is air."""
        seen_offsets = ring_offsets if seen_offsets is None else seen_offsets
        moved = ring_neutral[None, :, :2] + ring_offsets[..., :2]
        seen_moved = ring_neutral[None, :, :2] + seen_offsets[..., :2]
        corners = np.concatenate([moved.reshape(-1, 2), seen_moved.reshape(-1, 2)])
        margin = 4 * EDGE_SIGMA_MM
        origin = corners.min(axis=0) - margin
        width, height = (np.ceil((corners.max(axis=0) + margin - origin) / CELL_MM)).astype(int) + 1
        filled = _rasterise(moved, origin, (height, width))
        below_upper, above_lower = _lip_distances(filled)
        widest_seen = _rasterise(seen_moved, origin, (height, width)).sum(axis=1).max(axis=0) * CELL_MM  # (W,) mm
        inside = np.stack([cv2.GaussianBlur(f, (0, 0), EDGE_SIGMA_MM / CELL_MM) for f in filled])
        unlit = np.minimum(below_upper, above_lower) - widest_seen[None, None, :] / 2
        unseen = inside * np.clip(unlit / UNSEEN_RAMP_MM, 0.0, 1.0)
        masks = np.stack([inside, below_upper, above_lower, unseen]).astype(np.float32)
        front_z = mouth_front_z(ring_neutral, ring_neutral if face_neutral is None else face_neutral)
        seam_y = float(ring_neutral[:, 1].mean())
        return cls(torch.as_tensor(origin, dtype=torch.float32), torch.from_numpy(masks), front_z, seam_y, depth_mm)

    def to(self, device) -> "MouthCavity":
        return MouthCavity(self.origin.to(device), self.masks.to(device), self.front_z, self.seam_y, self.depth_mm)

    def shares(self, points: torch.Tensor, field_index: torch.Tensor) -> torch.Tensor:
        """(P, 3) points in a frame's canonical head space, (P,) which frame -> (P, 4): how much of the point is
        inside the open mouth (times the ramp from air to mouth), its distances (mm) below the upper and above the
        lower inner lip, and how much of it lies where no training frame lit the mouth (bilinear in the masks)."""
        frames, height, width = self.masks.shape[1:]
        cell = (points[:, :2] - self.origin) / CELL_MM
        limits = torch.tensor([width - 1, height - 1], device=points.device, dtype=points.dtype)
        in_front = points[:, 2] < self.front_z
        # only points over the mouth, behind the lips' front, can be inside (a few % of a ray's samples)
        candidates = torch.nonzero(((cell >= 0) & (cell <= limits)).all(dim=-1) & ~in_front, as_tuple=False)[:, 0]
        shares = torch.zeros(len(points), 4, device=points.device, dtype=points.dtype)
        if candidates.numel() == 0:
            return shares
        cell = cell[candidates]
        grid = torch.stack(
            [
                cell[:, 0] / max(width - 1, 1) * 2 - 1,
                cell[:, 1] / max(height - 1, 1) * 2 - 1,
                field_index[candidates].to(points.dtype) / max(frames - 1, 1) * 2 - 1,
            ],
            dim=-1,
        )
        sampled = torch.nn.functional.grid_sample(
            self.masks[None], grid.view(1, 1, 1, -1, 3), mode="bilinear", padding_mode="zeros", align_corners=True
        ).view(4, -1)  # a frame index lands exactly on its slice: no blending between frames
        ramp = ((points[candidates, 2] - self.front_z) / FRONT_RAMP_MM).clamp(0, 1)
        shares[candidates] = torch.stack([sampled[0] * ramp, sampled[1], sampled[2], sampled[3] * ramp], dim=-1)
        return shares

    def inside_points(self, points: torch.Tensor, shares: torch.Tensor) -> torch.Tensor:
        """(P, 3) frame points, (P, 4) their ``shares`` -> (P, 3) where neutral space keeps the inside: as far
        from the seam as from the nearer lip (below it for the upper lip, above for the lower), depth_mm back."""
        below_upper, above_lower = shares[:, 1], shares[:, 2]
        inside = points.clone()
        inside[:, 1] = torch.where(below_upper <= above_lower, self.seam_y + below_upper, self.seam_y - above_lower)
        inside[:, 2] = points[:, 2] + self.depth_mm
        return inside


def mouth_front_z(ring_neutral: np.ndarray, face_neutral: np.ndarray) -> float:
    """mm: where the mouth begins, FRONT_MARGIN_MM in front of the foremost of the neutral landmarks (L, 3) over the
    inner-lip ring (M, 3) (the outer lips)."""
    low, high = ring_neutral[:, :2].min(axis=0) - LIPS_REACH_MM, ring_neutral[:, :2].max(axis=0) + LIPS_REACH_MM
    over_mouth = ((face_neutral[:, :2] >= low) & (face_neutral[:, :2] <= high)).all(axis=1)
    return float(face_neutral[over_mouth, 2].min()) - FRONT_MARGIN_MM


def interior_volume(
    ring_neutral: np.ndarray, face_neutral: np.ndarray, depth_mm: float, box: torch.Tensor, resolution: int
) -> torch.Tensor:
    """(M, 3) mm the neutral inner-lip ring, (L, 3) the neutral landmarks, the cavity's depth, (2, 3) mm the head box
    -> (1, 1, R, R, R) on the box's grid (index order z, y, x): 1 where ``inside_points`` sends the inside of an open
    mouth (behind the neutral mouth, at least depth_mm behind where the mouth begins), 0 elsewhere."""
    points = box_grid(box, resolution)
    ring = torch.as_tensor(ring_neutral, dtype=torch.float32)
    interior = (
        (points[..., 0] >= ring[:, 0].min() - INTERIOR_MARGIN_MM)
        & (points[..., 0] <= ring[:, 0].max() + INTERIOR_MARGIN_MM)
        & ((points[..., 1] - ring[:, 1].mean()).abs() <= INTERIOR_REACH_MM)
        & (points[..., 2] >= mouth_front_z(ring_neutral, face_neutral) + depth_mm)
    )
    return interior.float()[None, None]


def _rasterise(rings: np.ndarray, origin: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(F, M, 2) mm ring outlines -> (F, H, W) float32 inside masks (0 or 1) on the CELL_MM grid from origin."""
    masks = np.zeros((len(rings), *shape), np.float32)
    scale = (1 << _SUBPIXEL_BITS) / CELL_MM
    for frame, ring in enumerate(rings):
        cv2.fillPoly(masks[frame], [np.round((ring - origin) * scale).astype(np.int32)], 1.0, shift=_SUBPIXEL_BITS)
    return masks


def _lip_distances(filled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F, H, W) 0/1 inside masks -> two (F, H, W) in mm: below the column's top inside cell (the upper inner lip)
    and above its bottom one (the lower), clipped at 0; both 0 in columns with no inside."""
    rows = np.arange(filled.shape[1])[None, :, None]
    inside = filled > 0.5
    has = inside.any(axis=1, keepdims=True)
    top = inside.argmax(axis=1)[:, None]
    bottom = filled.shape[1] - 1 - inside[:, ::-1].argmax(axis=1)[:, None]
    below_upper = np.where(has, (rows - top).clip(0, None), 0) * CELL_MM
    above_lower = np.where(has, (bottom - rows).clip(0, None), 0) * CELL_MM
    return below_upper.astype(np.float32), above_lower.astype(np.float32)


def ring_positions(warp_landmarks: np.ndarray) -> np.ndarray:
    """Where the inner-lip ring's landmarks sit in the (sorted) warp landmark ids."""
    if not np.isin(INNER_LIP_RING, warp_landmarks).all():
        raise ValueError("the warp landmarks must include the inner lip ring")
    return np.searchsorted(warp_landmarks, INNER_LIP_RING)
