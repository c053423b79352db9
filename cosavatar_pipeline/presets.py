"""Quality presets: the one table of every resolution- or budget-dependent setting. A preset names its frames
(crop size, frame rate), its NeRF and its edit rounds together; each field's default lives with its dataclass
(``NerfConfig``, ``EditRoundConfig``) and a preset lists only what it changes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from cosavatar_pipeline.editing.config import EditRoundConfig
from cosavatar_pipeline.errors import InputError
from cosavatar_pipeline.nerf.config import EncodingConfig, NerfConfig


@dataclass(frozen=True)
class Preset:
    name: str
    resolution: int  # side of the square face-centred crop, pixels
    fps: float  # constant output frame rate
    description: str
    nerf: NerfConfig = field(default_factory=NerfConfig)
    edit_rounds: EditRoundConfig = field(default_factory=EditRoundConfig)


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        "tiny",
        96,
        12.5,
        "96 px at 12.5 fps, a few hundred steps: end-to-end tests and smoke runs, not for viewing",
        # a recognisable but blurry avatar in seconds on a CPU
        nerf=NerfConfig(
            head_encoding=EncodingConfig(channels=8, resolution=64),
            torso_encoding=EncodingConfig(channels=8, resolution=32),
            hidden_width=32,
            rays_per_step=1024,
            head_samples=24,
            torso_samples=12,
            steps=150,
            occupancy_warmup_steps=50,
            checkpoint_every=50,
            log_every=10,
        ),
        edit_rounds=EditRoundConfig(finetune_steps=30, checkpoint_every=15, evaluation_frames=4),
    ),
    "preview": Preset("preview", 128, 25.0, "128 px, CPU-friendly"),
    "standard": Preset(
        "standard",
        256,
        25.0,
        "256 px",
        nerf=NerfConfig(
            head_encoding=EncodingConfig(channels=16, resolution=256), rays_per_step=4096, steps=4000, head_samples=40
        ),
        edit_rounds=EditRoundConfig(finetune_steps=1000, checkpoint_every=250),
    ),
    "high": Preset(
        "high",
        512,
        25.0,
        "512 px, needs a GPU",
        nerf=NerfConfig(
            head_encoding=EncodingConfig(kind="hashgrid", log2_table_size=19, max_resolution=1024),
            torso_encoding=EncodingConfig(kind="hashgrid", levels=10, log2_table_size=17, max_resolution=512),
            rays_per_step=8192,
            steps=20000,
            head_samples=48,
            torso_samples=24,
            hidden_width=64,
        ),
        edit_rounds=EditRoundConfig(finetune_steps=3000, checkpoint_every=500),
    ),
}
DEFAULT_PRESET = "preview"
PRESET_ENV = "COSAVATAR_PRESET"  # the preset of videos registered without one (the inbox sensor, `add-video`)


def default_preset() -> str:
    """``COSAVATAR_PRESET`` when set (checked), else ``DEFAULT_PRESET``."""
    name = os.environ.get(PRESET_ENV, "").strip() or DEFAULT_PRESET
    return get_preset(name).name


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(repr(name), f"unknown preset; choose one of {sorted(PRESETS)}") from None


def nerf_config(preset: str, **overrides) -> NerfConfig:
    """The preset's NeRF settings with ``overrides`` (fields set to None keep the preset's value)."""
    return replace(get_preset(preset).nerf, **{k: v for k, v in overrides.items() if v is not None})


def edit_round_config(preset: str, **overrides) -> EditRoundConfig:
    """The preset's edit-round settings with ``overrides`` (fields set to None keep the preset's value)."""
    return replace(get_preset(preset).edit_rounds, **{k: v for k, v in overrides.items() if v is not None})
