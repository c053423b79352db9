"""Volume rendering of samples from several fields along the same rays, composited over a background."""

from __future__ import annotations

import torch


def composite(
    depths: torch.Tensor,
    widths: torch.Tensor,
    densities: torch.Tensor,
    colours: torch.Tensor,
    is_head: torch.Tensor,
    background: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Render rays from unsorted samples.

    depths, widths (mm), densities (per cm), is_head: (R, S); colours (R, S, 3); background (R, 3).
    Each sample is a slab of its own stratum width, so samples of two fields interleave without double counting
    empty space. Returns rgb (R, 3), opacity (R,), depth (R,) mm, head_share (R,): the head's part of the opacity.
    """
    order = torch.argsort(depths, dim=1)
    depths = torch.gather(depths, 1, order)
    alpha = 1.0 - torch.exp(-torch.gather(densities * widths / 10.0, 1, order))
    colours = torch.gather(colours, 1, order[..., None].expand_as(colours))
    is_head = torch.gather(is_head, 1, order)
    transmittance = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha + 1e-10], dim=1), dim=1)[:, :-1]
    weights = alpha * transmittance
    opacity = weights.sum(dim=1)
    rgb = (weights[..., None] * colours).sum(dim=1) + (1.0 - opacity)[:, None] * background
    depth = (weights * depths).sum(dim=1) / opacity.clamp_min(1e-6)
    head_share = (weights * is_head).sum(dim=1) / opacity.clamp_min(1e-6)
    return {
        "rgb": rgb,
        "opacity": opacity,
        "depth": depth,
        "head_share": head_share,
        "head_opacity": (weights * is_head).sum(dim=1),
    }
