"""Spatial encodings behind one interface: (P, 3) points in [-1, 1]^3 -> (P, output_dims) features.

The tri-plane (three axis-aligned feature planes, bilinear lookups) is fastest on CPU; the multi-resolution hash
grid (trilinear lookups in hashed tables) serves large scenes and GPUs. Both are plain PyTorch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cosavatar_pipeline.nerf.config import EncodingConfig


class Encoding(nn.Module):
    output_dims: int

    def forward(self, points: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError


class TriPlaneEncoding(Encoding):
    """Features of the xy, xz and yz planes, concatenated so each plane keeps its own meaning."""

    def __init__(self, channels: int, resolution: int):
        super().__init__()
        self.planes = nn.Parameter(torch.randn(3, channels, resolution, resolution) * 0.1)
        self.output_dims = 3 * channels

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        coords = torch.stack([points[:, [0, 1]], points[:, [0, 2]], points[:, [1, 2]]])  # (3, P, 2)
        sampled = nn.functional.grid_sample(
            self.planes, coords[:, :, None, :], mode="bilinear", padding_mode="border", align_corners=False
        )  # (3, C, P, 1)
        return sampled[..., 0].permute(2, 0, 1).reshape(points.shape[0], -1)


class _FlatGather(torch.autograd.Function):
    """table[indices] whose backward accumulates with one flat scatter_add_ (much faster on CPU than the
    default embedding / index backward)."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(indices)
        ctx.table_shape = table.shape
        return table[indices]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (indices,) = ctx.saved_tensors
        rows, width = ctx.table_shape
        flat = (indices[..., None] * width + torch.arange(width, device=grad.device)).reshape(-1)
        table_grad = torch.zeros(rows * width, dtype=grad.dtype, device=grad.device)
        table_grad.scatter_add_(0, flat, grad.reshape(-1))
        return table_grad.view(rows, width), None


class HashGridEncoding(Encoding):
    PRIMES = (1, 2654435761, 805459861)

    def __init__(
        self, levels: int, features_per_level: int, log2_table_size: int, base_resolution: int, max_resolution: int
    ):
        super().__init__()
        self.levels = levels
        self.table_size = 2**log2_table_size
        growth = math.exp((math.log(max_resolution) - math.log(base_resolution)) / max(levels - 1, 1))
        self.register_buffer(
            "resolutions",
            torch.tensor([math.floor(base_resolution * growth**i) for i in range(levels)]),
            persistent=False,
        )
        self.tables = nn.Parameter(torch.empty(levels, self.table_size, features_per_level).uniform_(-1e-4, 1e-4))
        self.output_dims = levels * features_per_level
        corners = torch.tensor([[(c >> 0) & 1, (c >> 1) & 1, (c >> 2) & 1] for c in range(8)])
        self.register_buffer("corners", corners, persistent=False)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        unit = (points.clamp(-1, 1) + 1) / 2  # (P, 3) in [0, 1]
        scaled = unit[None] * self.resolutions[:, None, None].to(unit.dtype)  # (L, P, 3)
        base = scaled.floor().long()
        fraction = scaled - base
        vertices = base[:, :, None, :] + self.corners[None, None]  # (L, P, 8, 3)
        hashed = (
            (vertices[..., 0] * self.PRIMES[0])
            ^ (vertices[..., 1] * self.PRIMES[1])
            ^ (vertices[..., 2] * self.PRIMES[2])
        )
        level_offset = (torch.arange(self.levels, device=points.device) * self.table_size)[:, None, None]
        indices = hashed % self.table_size + level_offset  # (L, P, 8)
        flat_tables = self.tables.reshape(-1, self.tables.shape[-1])
        features = _FlatGather.apply(flat_tables, indices)  # (L, P, 8, F)
        weights = torch.where(
            self.corners[None, None].bool(), fraction[:, :, None, :], 1 - fraction[:, :, None, :]
        ).prod(-1)
        blended = (features * weights[..., None]).sum(2)  # (L, P, F)
        return blended.permute(1, 0, 2).reshape(points.shape[0], -1)


def build_encoding(config: EncodingConfig) -> Encoding:
    if config.kind == "triplane":
        return TriPlaneEncoding(config.channels, config.resolution)
    if config.kind == "hashgrid":
        return HashGridEncoding(
            config.levels,
            config.features_per_level,
            config.log2_table_size,
            config.base_resolution,
            config.max_resolution,
        )
    raise ValueError(f"unknown encoding kind {config.kind!r}: triplane or hashgrid")
