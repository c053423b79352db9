"""Training losses: photometric, opacity against the person mask, head share against the head mask."""

from __future__ import annotations

import torch


def photometric(rgb: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error; ``weight`` (R,) weighs rays (normalised, so the loss keeps its scale)."""
    squared = (rgb - target).pow(2).mean(dim=-1)
    if weight is None:
        return squared.mean()
    return (squared * weight).sum() / weight.sum()


def opacity_vs_mask(opacity: torch.Tensor, person: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy: the person fully opaque, the background fully transparent (the plate shows)."""
    return torch.nn.functional.binary_cross_entropy(opacity.clamp(1e-4, 1 - 1e-4), person.float())


def head_split(head_opacity: torch.Tensor, head: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """BCE of the head field's opacity against the head mask, on person pixels outside the ignore band."""
    if not valid.any():
        return head_opacity.sum() * 0
    return torch.nn.functional.binary_cross_entropy(head_opacity[valid].clamp(1e-4, 1 - 1e-4), head[valid].float())
