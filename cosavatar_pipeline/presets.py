"""Quality presets: every resolution- or budget-dependent default lives here, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from cosavatar_pipeline.errors import InputError


@dataclass(frozen=True)
class Preset:
    name: str
    resolution: int  # side of the square face-centred crop, pixels
    fps: float  # constant output frame rate
    description: str


PRESETS: dict[str, Preset] = {
    "preview": Preset("preview", 128, 25.0, "128 px, CPU-friendly"),
    "standard": Preset("standard", 256, 25.0, "256 px"),
    "high": Preset("high", 512, 25.0, "512 px, needs a GPU"),
}
DEFAULT_PRESET = "preview"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(repr(name), f"unknown preset; choose one of {sorted(PRESETS)}") from None
