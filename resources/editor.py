"""The editor's settings as a resource: where InstructPix2Pix weights are, and overrides of how it edits. Which
editor runs (auto / ip2p / procedural) and which named IP2P settings it starts from are part of each edit's spec."""

from __future__ import annotations

from typing import Optional

import dagster as dg

from cosavatar_pipeline.editing.config import DEFAULT_IP2P_SETTINGS, DEFAULT_MODEL, IP2PSettings, ip2p_settings


class EditorResource(dg.ConfigurableResource):
    """Empty ``model`` means ``timbrooks/instruct-pix2pix`` (looked up in the HF cache); the code location sets it from
    ``COSAVATAR_IP2P_MODEL`` when the environment names one. Every other field left unset keeps the value of the
    edit's named settings (``IP2P_SETTING_PRESETS``)."""

    model: str = ""  # a local directory saved with save_pretrained, or a repo id in the HF cache
    guidance_scale: Optional[float] = None
    image_guidance_scale: Optional[float] = None
    steps: Optional[int] = None
    noise_lower: Optional[float] = None
    noise_upper: Optional[float] = None
    edit_resolution: Optional[int] = None
    batch_size: Optional[int] = None  # None: chosen per device

    def settings(self, preset: str = DEFAULT_IP2P_SETTINGS) -> IP2PSettings:
        values = self.model_dump()
        values["model"] = values["model"] or DEFAULT_MODEL
        return ip2p_settings(preset, **values)
