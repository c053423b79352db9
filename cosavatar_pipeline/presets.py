"""Quality presets: every resolution- or budget-dependent default lives here, in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass

from cosavatar_pipeline.errors import InputError


@dataclass(frozen=True)
class Preset:
    name: str
    resolution: int  # side of the square face-centred crop, pixels
    fps: float  # constant output frame rate
    description: str


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        "tiny", 96, 12.5, "96 px at 12.5 fps, a few hundred steps: end-to-end tests and smoke runs, not for viewing"
    ),
    "preview": Preset("preview", 128, 25.0, "128 px, CPU-friendly"),
    "standard": Preset("standard", 256, 25.0, "256 px"),
    "high": Preset("high", 512, 25.0, "512 px, needs a GPU"),
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
