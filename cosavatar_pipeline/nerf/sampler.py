"""Where samples go: stratified along each ray's intersection with a field's box, minus empty space known to an
occupancy grid (plain PyTorch; nerfacc's marching needs CUDA)."""

from __future__ import annotations

import torch
from torch import nn


def stratified_samples(
    near: torch.Tensor, far: torch.Tensor, count: int, jitter: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(R,) near/far -> (R, count) sample depths and (R, count) stratum widths."""
    bins = torch.linspace(0.0, 1.0, count + 1, dtype=near.dtype, device=near.device)
    lower, upper = bins[:-1], bins[1:]
    offset = (
        torch.rand((near.shape[0], count), dtype=near.dtype, device=near.device)
        if jitter
        else torch.full((near.shape[0], count), 0.5, dtype=near.dtype, device=near.device)
    )
    fraction = lower + (upper - lower) * offset
    span = (far - near).clamp_min(0.0)[:, None]
    return near[:, None] + span * fraction, span.expand(-1, count) / count


def normalise_to_box(points: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """Points in the box's space -> [-1, 1]^3; box (2, 3) = (min, max)."""
    return (points - box[0]) / (box[1] - box[0]) * 2 - 1


def box_grid(box: torch.Tensor, resolution: int) -> torch.Tensor:
    """(R, R, R, 3) points of the box's space (mm) on a grid from corner to corner, indexed (z, y, x) as
    ``grid_sample`` reads a volume sampled on them with ``align_corners=True``."""
    axis = torch.linspace(-1, 1, resolution)
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    return (torch.stack([x, y, z], dim=-1) + 1) / 2 * (box[1] - box[0]) + box[0]


class OccupancyGrid(nn.Module):
    """Per-cell running maximum of the field's density, refreshed by probing every cell, decayed over time."""

    def __init__(self, resolution: int, threshold: float, decay: float = 0.9):
        super().__init__()
        self.resolution = resolution
        self.threshold = threshold
        self.decay = decay
        self.register_buffer("density", torch.full((resolution,) * 3, -1.0))  # < 0: never probed, so occupied
        self.register_buffer("keep", torch.zeros((resolution,) * 3, dtype=torch.bool), persistent=False)

    def keep_near(self, points: torch.Tensor, box: torch.Tensor, radius: float) -> None:
        """Never skip cells whose centre lies within ``radius`` of any of ``points`` (the box's space, (P, 3))."""
        g = self.resolution
        centres = (torch.arange(g, dtype=torch.float32) + 0.5) / g * 2 - 1
        grid = torch.stack(torch.meshgrid(centres, centres, centres, indexing="ij"), dim=-1).reshape(-1, 3)
        world = (grid + 1) / 2 * (box[1] - box[0]) + box[0]
        near = torch.cdist(world, points.to(world)).amin(dim=1) < radius
        self.keep = near.view(g, g, g).to(self.density.device)

    def _cells(self, normalised: torch.Tensor) -> torch.Tensor:
        index = ((normalised.clamp(-1, 1 - 1e-6) + 1) / 2 * self.resolution).long()
        return (index[:, 0] * self.resolution + index[:, 1]) * self.resolution + index[:, 2]

    def occupied(self, normalised: torch.Tensor) -> torch.Tensor:
        cells = self._cells(normalised)
        value = self.density.view(-1)[cells]
        return (value > self.threshold) | (value < 0) | self.keep.view(-1)[cells]

    def probe_points(self) -> torch.Tensor:
        """One random point in every cell, normalised coordinates, (G^3, 3) in cell order."""
        g = self.resolution
        axis = torch.arange(g, device=self.density.device)
        grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(-1, 3)
        return (grid + torch.rand_like(grid, dtype=torch.float32)) / g * 2 - 1

    @torch.no_grad()
    def update(self, probed_density: torch.Tensor) -> None:
        self.density.copy_(torch.maximum(self.density * self.decay, probed_density.view_as(self.density)))

    @property
    def occupied_fraction(self) -> float:
        return float(((self.density > self.threshold) | (self.density < 0) | self.keep).float().mean())
