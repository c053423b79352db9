"""The inside of the mouth: points between a frame's parted lips are sent behind the neutral lips instead of being
stretched across them.

A smooth warp cannot open a hole. Between parted lips it interpolates the two lips' offsets, so the whole gap maps
onto the seam of the neutral mouth and renders as stretched lip (an open mouth then reads as a tall closed one, and
a driver's yawn shows lip colour smeared over the opening). The cavity gives the opening a place of its own: a
point of the frame's head space whose x/y lies inside the frame's inner-lip ring, and which is not in front of the
lips, keeps its x/y (upper teeth and the back of the mouth move with the skull) and is pushed ``depth_mm`` back,
where the neutral face's field lies behind the lips in every closed-mouth frame and is free to learn teeth and the
dark mouth.

Where a frame opens the mouth further than any training frame did (a driver's yawn, a held-out wide opening), the
field behind the lips was never supervised and shows whatever it extrapolates (stripes of teeth in practice). That
part is reported as ``unseen`` and rendered as the clip's own mouth-interior colour (``AvatarModel``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

# mediapipe FaceMesh's inner lip ring, in order: upper lip from the right corner (78) to the left (308), then back
INNER_LIP_RING = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
CELL_MM = 0.5  # the inside masks' resolution on canonical x/y
EDGE_SIGMA_MM = 0.5  # soft edge of the opening
FRONT_RAMP_MM = 2.0  # points this far in front of the foremost inner-lip landmark are air: never pushed
_SUBPIXEL_BITS = 4


@dataclass
class MouthCavity:
    """Per frame, where the mouth is open on canonical x/y, which of that no training frame opened, and how far the
    inside is pushed back."""

    origin: torch.Tensor  # (2,) mm: x/y of the masks' first cell
    masks: torch.Tensor  # (2, F, H, W) in [0, 1]: inside the frame's inner-lip ring; inside it but never seen open
    front_z: float  # mm: the ramp from air to mouth starts here (z grows away from the face)
    depth_mm: float

    @classmethod
    def build(
        cls, ring_neutral: np.ndarray, ring_offsets: np.ndarray, depth_mm: float, seen_offsets: np.ndarray | None = None
    ) -> "MouthCavity":
        """ring_neutral (M, 3) mm the inner-lip ring on the neutral face, ring_offsets (F, M, 3) mm its per-frame
        displacements (z ignored), seen_offsets (T, M, 3) the training frames' (default: these frames) -> the
        frames' cavity."""
        seen_offsets = ring_offsets if seen_offsets is None else seen_offsets
        moved = ring_neutral[None, :, :2] + ring_offsets[..., :2]
        seen_moved = ring_neutral[None, :, :2] + seen_offsets[..., :2]
        corners = np.concatenate([moved.reshape(-1, 2), seen_moved.reshape(-1, 2)])
        margin = 4 * EDGE_SIGMA_MM
        origin = corners.min(axis=0) - margin
        width, height = (np.ceil((corners.max(axis=0) + margin - origin) / CELL_MM)).astype(int) + 1
        inside = _rasterise(moved, origin, (height, width))
        seen = _rasterise(seen_moved, origin, (height, width)).max(axis=0)
        masks = np.stack([inside, np.clip(inside - seen[None], 0.0, 1.0)])
        front_z = float(ring_neutral[:, 2].min()) - FRONT_RAMP_MM
        return cls(torch.as_tensor(origin, dtype=torch.float32), torch.from_numpy(masks), front_z, depth_mm)

    def to(self, device) -> "MouthCavity":
        return MouthCavity(self.origin.to(device), self.masks.to(device), self.front_z, self.depth_mm)

    def shares(self, points: torch.Tensor, field_index: torch.Tensor) -> torch.Tensor:
        """(P, 3) points in a frame's canonical head space, (P,) which frame -> (P, 2) in [0, 1]: how much of the
        point is inside the open mouth, and inside a part of it no training frame opened (bilinear in the frame's
        masks, times the ramp from air to mouth)."""
        frames, height, width = self.masks.shape[1:]
        cell = (points[:, :2] - self.origin) / CELL_MM
        limits = torch.tensor([width - 1, height - 1], device=points.device, dtype=points.dtype)
        in_front = points[:, 2] < self.front_z
        # only points over the mouth, behind the lips' front, can be inside (a few % of a ray's samples)
        candidates = torch.nonzero(((cell >= 0) & (cell <= limits)).all(dim=-1) & ~in_front, as_tuple=False)[:, 0]
        shares = torch.zeros(len(points), 2, device=points.device, dtype=points.dtype)
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
        ).view(2, -1)  # a frame index lands exactly on its slice: no blending between frames
        ramp = ((points[candidates, 2] - self.front_z) / FRONT_RAMP_MM).clamp(0, 1)
        shares[candidates] = (sampled * ramp).t()
        return shares


def _rasterise(rings: np.ndarray, origin: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(F, M, 2) mm ring outlines -> (F, H, W) float32 soft-edged inside masks on the CELL_MM grid from origin."""
    masks = np.zeros((len(rings), *shape), np.float32)
    scale = (1 << _SUBPIXEL_BITS) / CELL_MM
    for frame, ring in enumerate(rings):
        cv2.fillPoly(masks[frame], [np.round((ring - origin) * scale).astype(np.int32)], 1.0, shift=_SUBPIXEL_BITS)
        masks[frame] = cv2.GaussianBlur(masks[frame], (0, 0), EDGE_SIGMA_MM / CELL_MM)
    return masks


def ring_positions(warp_landmarks: np.ndarray) -> np.ndarray:
    """Where the inner-lip ring's landmarks sit in the (sorted) warp landmark ids."""
    if not np.isin(INNER_LIP_RING, warp_landmarks).all():
        raise ValueError("the warp landmarks must include the inner lip ring")
    return np.searchsorted(warp_landmarks, INNER_LIP_RING)
