"""Head and torso radiance fields: encoding + conditioning -> small MLP -> density (per cm) and RGB."""

from __future__ import annotations

import torch
from torch import nn

from cosavatar_pipeline.nerf.config import EncodingConfig
from cosavatar_pipeline.nerf.encoding import build_encoding

DENSITY_BIAS = 2.0  # softplus(x - 2): a sane initial opacity with sample spacing in centimetres
COLOUR_SHIFT_INIT_STD = 0.01


def _mlp(inputs: int, width: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, outputs)
    )


class ConditionedField(nn.Module):
    """density, rgb = MLP([encoding(x), condition]); x is already normalised to [-1, 1]^3 in the field's box."""

    def __init__(self, encoding: EncodingConfig, condition_dims: int, width: int):
        super().__init__()
        self.encoding = build_encoding(encoding)
        self.condition_dims = condition_dims
        self.mlp = _mlp(self.encoding.output_dims + condition_dims, width, 4)

    def forward(self, points: torch.Tensor, condition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoding(points)
        if self.condition_dims:
            features = torch.cat([features, condition], dim=-1)
        raw = self.mlp(features)
        density = nn.functional.softplus(raw[:, 0] - DENSITY_BIAS)
        rgb = torch.sigmoid(raw[:, 1:])
        return density, rgb


class HeadField(ConditionedField):
    """Canonical head space; conditioned on the expression code and a per-frame appearance latent (``code``
    expression control: both are plain MLP inputs)."""

    def __init__(self, encoding: EncodingConfig, expression_dims: int, appearance_dims: int, width: int):
        super().__init__(encoding, expression_dims + appearance_dims, width)


class WarpedHeadField(ConditionedField):
    """Neutral canonical head space (points already warped there by the landmarks); conditioned on the gated,
    whitened expression code and, when ``pose_dims``, the head pose (hair hangs by gravity, so in head space its
    shape depends on how the head is turned). The per-frame appearance latent only shifts colour: a linear map of
    the latent is added to the colour logits, so it cannot carve geometry or stand in for an expression."""

    def __init__(
        self, encoding: EncodingConfig, expression_dims: int, appearance_dims: int, width: int, pose_dims: int = 0
    ):
        super().__init__(encoding, expression_dims + pose_dims, width)
        self.colour_shift = nn.Linear(appearance_dims, 3)
        # latents start at zero, so the map must not: with both zero neither ever gets a gradient (the latents stayed
        # exactly zero through training before Dec 2026)
        nn.init.normal_(self.colour_shift.weight, std=COLOUR_SHIFT_INIT_STD)
        nn.init.zeros_(self.colour_shift.bias)

    def forward(self, points: torch.Tensor, condition: torch.Tensor, appearance: torch.Tensor | None = None):
        features = torch.cat([self.encoding(points), condition], dim=-1)
        raw = self.mlp(features)
        density = nn.functional.softplus(raw[:, 0] - DENSITY_BIAS)
        logits = raw[:, 1:] if appearance is None else raw[:, 1:] + self.colour_shift(appearance)
        return density, torch.sigmoid(logits)


POSE_DIMS = 6  # rotation vector and translation, relative to the clip mean (``dataset.pose_conditions``)


class TorsoField(ConditionedField):
    """Camera space; conditioned on the head pose (rotation vector and translation, relative to the clip mean),
    so neck and shoulders follow the head."""

    def __init__(self, encoding: EncodingConfig, width: int):
        super().__init__(encoding, POSE_DIMS, width)
