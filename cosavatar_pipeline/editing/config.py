"""Editing settings: every default of the iterative dataset update in one place, per quality preset."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

DEFAULT_ROUNDS = 3  # K: dataset-update + fine-tune rounds per edit (env COSAVATAR_EDIT_ROUNDS overrides)


@dataclass(frozen=True)
class EditRoundConfig:
    feather_fraction: float = 1 / 64  # feather radius of the blend mask, as a fraction of the frame side
    growth_fraction: float = 0.06  # how far (fraction of the side) the edited image's region may extend the original's
    finetune_steps: int = 400
    rays_per_step: int | None = None  # None: the avatar's own
    learning_rate_scale: float = 1.0  # of the avatar's learning rates
    checkpoint_every: int = 100
    evaluation_frames: int = 16  # training frames the fine-tuned avatar is rendered at for its figures

    def feather_px(self, size: int) -> float:
        return self.feather_fraction * size

    def growth_px(self, size: int) -> int:
        return round(self.growth_fraction * size)

    def as_dict(self) -> dict:
        return asdict(self)


EDIT_ROUND_PRESETS: dict[str, EditRoundConfig] = {
    "tiny": EditRoundConfig(finetune_steps=30, checkpoint_every=15, evaluation_frames=4),
    "preview": EditRoundConfig(),
    "standard": EditRoundConfig(finetune_steps=1000, checkpoint_every=250),
    "high": EditRoundConfig(finetune_steps=3000, checkpoint_every=500),
}


def edit_round_config(preset: str, **overrides) -> EditRoundConfig:
    return replace(EDIT_ROUND_PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})
