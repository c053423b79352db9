"""Camera rays and their intersection with axis-aligned boxes (OpenCV axes, pixel centres at i + 0.5)."""

from __future__ import annotations

import torch


def pixel_directions(pixels_xy: torch.Tensor, focal: float, principal_point: tuple[float, float]) -> torch.Tensor:
    """(R, 2) pixel coordinates (column, row indices) -> (R, 3) unit ray directions in camera space."""
    x = (pixels_xy[:, 0] + 0.5 - principal_point[0]) / focal
    y = (pixels_xy[:, 1] + 0.5 - principal_point[1]) / focal
    directions = torch.stack([x, y, torch.ones_like(x)], dim=-1)
    return directions / directions.norm(dim=-1, keepdim=True)


def to_head_space(
    origins: torch.Tensor, directions: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays in camera space -> canonical head space, per ray: X_head = R^T (X_cam - t). rotation (R, 3, 3)."""
    rotation_t = rotation.transpose(1, 2)
    head_origins = (rotation_t @ (origins - translation)[..., None])[..., 0]
    head_directions = (rotation_t @ directions[..., None])[..., 0]
    return head_origins, head_directions


def intersect_box(
    origins: torch.Tensor, directions: torch.Tensor, box_min: torch.Tensor, box_max: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Slab test. Returns near, far (R,) and hit (R,) bool; near >= 0."""
    safe = torch.where(directions.abs() < 1e-9, torch.full_like(directions, 1e-9), directions)
    t0 = (box_min - origins) / safe
    t1 = (box_max - origins) / safe
    near = torch.minimum(t0, t1).amax(dim=-1).clamp_min(0.0)
    far = torch.maximum(t0, t1).amin(dim=-1)
    return near, far, far > near
