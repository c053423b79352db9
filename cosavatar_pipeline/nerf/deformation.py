"""Expression as geometry: a frame's head-space points moved back to the neutral face, driven by the landmarks.

The face model gives, per frame, where each landmark sits relative to the neutral (identity) shape. A sample point
``x`` of the frame's canonical head space is mapped to the neutral face by subtracting a smooth interpolation of
the landmark displacements around it (Gaussian radial weights of the frame's *moved* landmarks, normalised, with a
far-field term so that points away from every landmark do not move):

    d(x) = sum_i w_i(x) D_i / (sum_i w_i(x) + w_far),   w_i(x) = exp(-|x - (S_i + D_i)|^2 / (2 sigma^2))
    x_neutral = x - d(x)

So a mouth opens because the lower-lip and jaw landmarks moved down, also beyond anything the training clip showed.
Only x/y displacements are used (mediapipe's per-frame depth is mostly its own prior), and the upper face contour
is left out: it slides over the silhouette as the head turns instead of following the skin.

Around the eyelids a second, fine field of the same form (``EYE_SIGMA_MM``) adds what the coarse one misses at the
lid landmarks, so that a blink or a wink closes the eye instead of squeezing it.

The code-conditioned residual of the head field (teeth, tongue, wrinkles: what landmarks do not describe) is gated
by ``residual_gate``: 1 near the mouth and eyes of the neutral face, falling to 0 away from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from cosavatar_pipeline.face import landmarks as lm
from cosavatar_pipeline.face.canonical import connection_indices
from cosavatar_pipeline.nerf.cavity import MouthCavity
from cosavatar_pipeline.nerf.sampler import box_grid

WARP_SIGMA_MM = 6.0  # radial falloff of one landmark's pull
FAR_FIELD_MM = 12.0  # a point this far from a single landmark moves half as much as the landmark (88% on it)
WARP_REFINEMENTS = 8  # residual corrections that make the field take each landmark's offset at the landmark
GATE_SIGMA_MM = 8.0  # the residual's reach around the mouth and eyes
GATE_RESOLUTION = 64  # the gate is static per avatar: sampled once on a grid over the head box
KEEP_RADIUS_MM = 22.0  # occupancy cells this close to the lips and jaw are never skipped
GRID_SPACING_MM = 4.0  # the warp field's sampling, two thirds of the falloff: trilinear lookups keep its shape
# The eyelids: a blink brings the upper lid about 10 mm down onto a lower lid that stays, a step the 6 mm field
# cannot take. A fine field around the lids adds what the coarse one misses at their landmarks. On a synthetic 90%
# wink (tests/test_nerf.py, docs/warp.md) 7.1 of the eye's 9.9 mm stayed visible without it, 2.5 with it (1.0
# wanted); σ 1.5 mm on a 0.75 mm grid left 2.2 for 4x the memory (this grid: about 150 KB a frame)
EYE_SIGMA_MM = 2.0
EYE_FAR_FIELD_MM = 4.0
EYE_GRID_SPACING_MM = 1.5
# A lid closed all the way puts each upper-lid landmark on the lower one with another offset: the field cannot
# take both there and averages them, which opens the eye again (7 of 10 mm). The upper lid stops this share of the
# neutral gap short of the lower one (2.5 mm of 10 then shows, a thin dark line)
MIN_LID_GAP_SHARE = 0.1


@lru_cache(maxsize=1)
def _regions() -> dict[str, tuple[int, ...]]:
    from mediapipe.python.solutions import face_mesh_connections as fmc

    return {
        "lips": tuple(sorted(connection_indices(fmc.FACEMESH_LIPS))),
        "eyes": tuple(sorted(connection_indices(fmc.FACEMESH_LEFT_EYE, fmc.FACEMESH_RIGHT_EYE))),
        "brows": tuple(sorted(connection_indices(fmc.FACEMESH_LEFT_EYEBROW, fmc.FACEMESH_RIGHT_EYEBROW))),
        "contour": tuple(sorted(connection_indices(fmc.FACEMESH_FACE_OVAL))),
    }


@dataclass(frozen=True)
class Eyelids:
    """Where the eyes' landmarks sit among a warp's L landmarks (sorted ids, ``warp_landmarks``)."""

    positions: np.ndarray  # (E,) the eye contours: lids and corners, which get the fine field
    upper: np.ndarray  # (P,) upper-lid landmarks ...
    lower: np.ndarray  # (P,) ... and the lower-lid landmark under each

    @classmethod
    def among(cls, landmark_ids: np.ndarray) -> "Eyelids":
        upper, lower = lm.UPPER_LID_RIGHT + lm.UPPER_LID_LEFT, lm.LOWER_LID_RIGHT + lm.LOWER_LID_LEFT
        return cls(
            np.flatnonzero(np.isin(landmark_ids, region_points("eyes"))),
            np.searchsorted(landmark_ids, upper),
            np.searchsorted(landmark_ids, lower),
        )

    def kept_open(self, neutral: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, float]:
        """(L, 3) neutral landmarks, (F, L, 3) offsets -> the offsets with every upper lid stopped
        ``MIN_LID_GAP_SHARE`` of its neutral gap above the lower lid, and the share of (frame, lid) pairs stopped."""
        gap = neutral[self.lower, 1] - neutral[self.upper, 1]  # (P,) image y grows downward
        moved_gap = gap + offsets[:, self.lower, 1] - offsets[:, self.upper, 1]  # (F, P)
        short = np.clip(MIN_LID_GAP_SHARE * gap - moved_gap, 0, None)
        kept = offsets.copy()
        kept[:, self.upper, 1] -= short
        return kept, float((short > 1e-3).mean())  # a thousandth of a mm: rounding, not a cut


def region_points(name: str) -> np.ndarray:
    """Landmark indices of a face part: ``lips``, ``eyes``, ``brows`` or ``contour``."""
    return np.array(_regions()[name])


def warp_landmarks(identity: np.ndarray) -> np.ndarray:
    """Indices of the landmarks that drive the warp: every mesh point but the irises (they follow the gaze, not the
    skin) and the face contour above the mouth corners (it slides over the silhouette)."""
    contour = region_points("contour")
    mouth_corner_y = identity[list(lm.MOUTH_CORNERS), 1].mean()
    upper_contour = contour[identity[contour, 1] < mouth_corner_y]
    return np.setdiff1d(np.arange(468), upper_contour)


def warp_offsets(displacements: np.ndarray, landmark_ids: np.ndarray) -> np.ndarray:
    """(N, 478, 3) canonical displacements -> (N, L, 3) the warp's offsets: x/y only, z set to zero."""
    offsets = displacements[:, landmark_ids].astype(np.float32).copy()
    offsets[..., 2] = 0.0
    return offsets


@dataclass
class WarpFields:
    """The displacement field d(x) of F frames, sampled every ``GRID_SPACING_MM`` on a box of canonical head space
    that holds every moved landmark plus the falloff; zero outside it. Per training step the warp is then a
    trilinear lookup instead of a sum over hundreds of landmarks for every sample (7x faster on 2 CPU cores)."""

    box: torch.Tensor  # (2, 3) mm, (min, max)
    values: torch.Tensor  # (F, X, Y, Z, 2) mm: x/y displacement at the grid's vertices
    cavity: MouthCavity | None = None  # where the frames' mouths are open (nerf/cavity.py)
    spacing_mm: float = GRID_SPACING_MM
    eyelids: "WarpFields | None" = None  # the fine field around the lids, added to this one
    stopped_lid_share: float = 0.0  # of (frame, lid landmark) pairs, how many were kept from closing fully

    @classmethod
    def build(
        cls,
        neutral_landmarks: np.ndarray,
        offsets: np.ndarray,
        cavity_ring: np.ndarray | None = None,
        cavity_depth_mm: float = 0.0,
        seen_offsets: np.ndarray | None = None,
        eyelids: Eyelids | None = None,
    ) -> "WarpFields":
        """neutral_landmarks (L, 3) mm, offsets (F, L, 3) mm (z ignored) -> the frames' fields. cavity_ring: the
        inner-lip ring's positions among the L landmarks (``cavity.ring_positions``); with a depth > 0 the open
        mouth's inside is pushed that far back instead of being warped. seen_offsets (T, L, 3): the training frames'
        offsets, which say how far the clip ever opened the mouth (default: these frames). eyelids: where
        the eyes' landmarks are (``Eyelids.among``): they get the fine field, and lids are kept from closing onto
        each other (``stopped_lid_share`` says how often that cut the motion)."""
        stopped = 0.0
        if eyelids is not None:
            offsets, stopped = eyelids.kept_open(neutral_landmarks, offsets)
        moved = neutral_landmarks[None] + offsets
        fields = cls._grid(moved, offsets[..., :2], WARP_SIGMA_MM, FAR_FIELD_MM)
        fields.stopped_lid_share = stopped
        if eyelids is not None:
            lids = moved[:, eyelids.positions]
            frames = torch.arange(len(offsets))[:, None].expand(-1, len(eyelids.positions)).reshape(-1)
            coarse = fields.displacement(torch.as_tensor(lids.reshape(-1, 3), dtype=torch.float32), frames)
            missed = offsets[:, eyelids.positions, :2] - coarse[:, :2].numpy().reshape(lids.shape[:2] + (2,))
            fields.eyelids = cls._grid(lids, missed, EYE_SIGMA_MM, EYE_FAR_FIELD_MM, EYE_GRID_SPACING_MM)
        if cavity_ring is not None and cavity_depth_mm > 0:
            seen = None if seen_offsets is None else seen_offsets[:, cavity_ring]
            fields.cavity = MouthCavity.build(
                neutral_landmarks[cavity_ring], offsets[:, cavity_ring], cavity_depth_mm, seen, neutral_landmarks
            )
        return fields

    @classmethod
    def _grid(
        cls,
        moved: np.ndarray,
        targets: np.ndarray,
        sigma_mm: float,
        far_field_mm: float,
        spacing_mm: float = GRID_SPACING_MM,
        frames_per_chunk: int = 16,
    ) -> "WarpFields":
        """moved (F, L, 3) landmarks, targets (F, L, 2) the offsets the field takes there -> the field
        sum_i w_i(x) c_i / (sum_i w_i(x) + w_far) on a grid over the landmarks plus three falloffs, c from
        ``warp_coefficients`` (a chunk of frames at a time: its (F, L, L) weights are the largest array here).

        The sums over landmarks are computed as splat-and-blur: each moved landmark is splatted (trilinearly) onto
        the grid with its coefficient and a unit weight, both grids are blurred with the unnormalised Gaussian
        (separable, exact up to the splat), and the coefficient grid is divided by the weight grid plus the
        far-field term."""
        reach = 3 * sigma_mm
        low = moved.reshape(-1, 3).min(axis=0) - reach
        counts = np.ceil((moved.reshape(-1, 3).max(axis=0) + reach - low) / spacing_mm).astype(int) + 1
        far_weight = float(np.exp(-0.5 * (far_field_mm / sigma_mm) ** 2))
        values = torch.empty(len(moved), *counts.tolist(), 2)
        for start in range(0, len(moved), frames_per_chunk):
            chunk = slice(start, start + frames_per_chunk)
            coefficients = warp_coefficients(moved[chunk], targets[chunk], sigma_mm=sigma_mm, far_field_mm=far_field_mm)
            sums = _splat((moved[chunk] - low) / spacing_mm, coefficients.numpy(), counts)
            sums = _gaussian_blur(sums, sigma_mm / spacing_mm)
            values[chunk] = (sums[:, :2] / (sums[:, 2:] + far_weight)).permute(0, 2, 3, 4, 1)
        box = torch.as_tensor(np.stack([low, low + (counts - 1) * spacing_mm]), dtype=torch.float32)
        return cls(box, values, spacing_mm=spacing_mm)

    def to(self, device) -> "WarpFields":
        cavity = self.cavity.to(device) if self.cavity is not None else None
        eyelids = self.eyelids.to(device) if self.eyelids is not None else None
        return WarpFields(
            self.box.to(device), self.values.to(device), cavity, self.spacing_mm, eyelids, self.stopped_lid_share
        )

    def displacement(self, points: torch.Tensor, field_index: torch.Tensor) -> torch.Tensor:
        """(P, 3) points in a frame's canonical head space, (P,) which frame's field -> (P, 3) displacement (z 0).

        One trilinear ``grid_sample`` over all frames at once: the fields are stacked along x with a zero slab
        between frames, so a lookup never blends two frames."""
        result = torch.zeros_like(points) if self.eyelids is None else self.eyelids.displacement(points, field_index)
        frames, size_x, size_y, size_z = self.values.shape[:4]
        sizes = torch.tensor([size_x, size_y, size_z], device=points.device, dtype=points.dtype)
        position = (points - self.box[0]) / self.spacing_mm
        # only points inside the box can move (about half of a ray's samples): look up just those
        inside = torch.nonzero(((position >= 0) & (position <= sizes - 1)).all(dim=-1), as_tuple=False)[:, 0]
        if inside.numel() == 0:
            return result
        position = position[inside]
        folded_x = field_index[inside].to(points.dtype) * (size_x + 1) + position[:, 0]
        depth = frames * (size_x + 1)
        grid = torch.stack(
            [
                position[:, 2] / (size_z - 1) * 2 - 1,
                position[:, 1] / (size_y - 1) * 2 - 1,
                folded_x / (depth - 1) * 2 - 1,
            ],
            dim=-1,
        )
        sampled = torch.nn.functional.grid_sample(
            self._stacked(), grid.view(1, 1, 1, -1, 3), mode="bilinear", padding_mode="zeros", align_corners=True
        )  # (1, 2, 1, 1, P_inside)
        result[inside, :2] += sampled.view(2, -1).t()
        return result

    def _stacked(self) -> torch.Tensor:
        """(1, 2, F * (X + 1), Y, Z): the frames' fields one after another along x, a zero slab after each."""
        if getattr(self, "_stacked_cache", None) is None:
            padded = torch.nn.functional.pad(self.values, (0, 0, 0, 0, 0, 0, 0, 1))  # (F, X + 1, Y, Z, 2)
            self._stacked_cache = padded.reshape(-1, *padded.shape[2:]).permute(3, 0, 1, 2)[None].contiguous()
        return self._stacked_cache


def warp_coefficients(
    moved: np.ndarray,
    offsets: np.ndarray,
    iterations: int = WARP_REFINEMENTS,
    sigma_mm: float = WARP_SIGMA_MM,
    far_field_mm: float = FAR_FIELD_MM,
) -> torch.Tensor:
    """(F, L, 3) moved landmarks, (F, L, C) their offsets -> (F, L, C) coefficients c such that the field
    d(x) = sum_i w_i(x) c_i / (sum_i w_i(x) + w_far) takes (nearly) each landmark's own offset at the landmark.

    With c = D the normalised sum averages a landmark's offset with its neighbours' (a lower lip next to a resting
    upper lip moved only ~2/3 as far as it should); a few residual corrections c <- c + (D - d(landmarks)) undo that
    without changing the field away from the face."""
    points = torch.as_tensor(moved, dtype=torch.float32)
    target = torch.as_tensor(offsets, dtype=torch.float32)
    weights = torch.exp(-0.5 * torch.cdist(points, points).square() / sigma_mm**2)  # (F, L, L)
    far_weight = float(np.exp(-0.5 * (far_field_mm / sigma_mm) ** 2))
    normalised = weights / (weights.sum(-1, keepdim=True) + far_weight)
    coefficients = target.clone()
    for _ in range(iterations):
        coefficients = coefficients + (target - normalised @ coefficients)
    return coefficients


def _splat(positions: np.ndarray, offsets: np.ndarray, counts: np.ndarray) -> torch.Tensor:
    """positions (F, L, 3) in grid units, offsets (F, L, 2) -> (F, 3, X, Y, Z): splatted x/y offsets and weight."""
    frames, landmarks = positions.shape[:2]
    position = torch.as_tensor(positions, dtype=torch.float32)
    base = position.floor().long()
    fraction = position - base
    payload = torch.cat([torch.as_tensor(offsets, dtype=torch.float32), torch.ones(frames, landmarks, 1)], dim=-1)
    grid = torch.zeros(frames * int(np.prod(counts)), 3)
    frame_of = torch.arange(frames)[:, None].expand(-1, landmarks)
    for corner in range(8):
        step = torch.tensor([(corner >> 2) & 1, (corner >> 1) & 1, corner & 1])
        vertex = base + step
        weight = torch.where(step.bool(), fraction, 1 - fraction).prod(dim=-1)
        cell = ((frame_of * int(counts[0]) + vertex[..., 0]) * int(counts[1]) + vertex[..., 1]) * int(
            counts[2]
        ) + vertex[..., 2]
        grid.index_add_(0, cell.reshape(-1), (payload * weight[..., None]).reshape(-1, 3))
    return grid.view(frames, *counts.tolist(), 3).permute(0, 4, 1, 2, 3).contiguous()


def _gaussian_blur(volume: torch.Tensor, sigma_cells: float) -> torch.Tensor:
    """(F, C, X, Y, Z) convolved with exp(-r^2 / (2 sigma^2)) (peak 1, not normalised), axis by axis."""
    radius = int(np.ceil(3 * sigma_cells))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32) / sigma_cells) ** 2)
    channels = volume.shape[1]
    for axis in range(3):
        shape = [1, 1, 1]
        shape[axis] = len(taps)
        kernel = taps.view(1, 1, *shape).expand(channels, 1, *shape).contiguous()
        padding = [0, 0, 0]
        padding[axis] = radius
        volume = torch.nn.functional.conv3d(volume, kernel, padding=tuple(padding), groups=channels)
    return volume


def warp_to_neutral(
    points: torch.Tensor, fields: WarpFields, field_index: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """points (R, S, 3) of R rays in their frame's canonical head space (mm), field_index (R,) each ray's frame in
    ``fields`` -> (R, S, 3) points on the neutral face, and (R, S) how much of each lies in a part of the open mouth
    no training frame showed (None without a cavity). No gradient flows through the warp: it is data.

    Inside an open mouth (``fields.cavity``) a point goes behind the neutral lips instead (``MouthCavity``)."""
    with torch.no_grad():
        flat_points = points.reshape(-1, 3)
        flat_index = field_index[:, None].expand(-1, points.shape[1]).reshape(-1)
        pull = fields.displacement(flat_points, flat_index)
        if fields.cavity is None:
            return points - pull.view_as(points), None
        shares = fields.cavity.shares(flat_points, flat_index)
        warped = torch.lerp(flat_points - pull, fields.cavity.inside_points(flat_points, shares), shares[:, :1])
        return warped.view_as(points), shares[:, 3].view(points.shape[:2])


def residual_gate(neutral_points: torch.Tensor, gate_landmarks: torch.Tensor) -> torch.Tensor:
    """(P, 3) neutral-face points, (G, 3) mouth and eye landmarks -> (P, 1) in [0, 1]: how much the expression
    code may change this point."""
    with torch.no_grad():
        nearest = torch.cdist(neutral_points, gate_landmarks).amin(dim=-1, keepdim=True)
        return torch.exp(-0.5 * (nearest / GATE_SIGMA_MM) ** 2)


def gate_volume(gate_landmarks: torch.Tensor, box: torch.Tensor, resolution: int = GATE_RESOLUTION) -> torch.Tensor:
    """(1, 1, R, R, R) ``residual_gate`` sampled on the box's grid (index order z, y, x for ``grid_sample``)."""
    points = box_grid(box, resolution).reshape(-1, 3)
    gate = torch.cat([residual_gate(chunk, gate_landmarks) for chunk in points.split(65536)])
    return gate.view(1, 1, resolution, resolution, resolution)


def sample_gate(volume: torch.Tensor, normalised: torch.Tensor) -> torch.Tensor:
    """(1, C, R, R, R) gates (``gate_volume``s stacked on dim 1), (P, 3) points normalised to the head box -> (P, C),
    trilinear."""
    sampled = torch.nn.functional.grid_sample(
        volume, normalised.view(1, 1, 1, -1, 3), mode="bilinear", padding_mode="border", align_corners=True
    )  # (1, C, 1, 1, P)
    return sampled.view(volume.shape[1], -1).t()


def gate_landmark_ids() -> np.ndarray:
    """The face parts the residual may change: lips (teeth, tongue and the mouth interior lie behind them) and eyes."""
    return np.union1d(region_points("lips"), region_points("eyes"))


def keep_landmark_ids(identity: np.ndarray) -> np.ndarray:
    """Lips and the face contour below the mouth corners: space an open mouth or dropped jaw occupies lies near them."""
    contour = region_points("contour")
    mouth_corner_y = identity[list(lm.MOUTH_CORNERS), 1].mean()
    return np.union1d(region_points("lips"), contour[identity[contour, 1] >= mouth_corner_y])
