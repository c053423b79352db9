"""The editor's settings as a resource: where InstructPix2Pix weights are and how it edits. Which editor runs
(auto / ip2p / procedural) is part of each edit's spec."""

from __future__ import annotations

import os

import dagster as dg

from cosavatar_pipeline.editing.ip2p import IP2PSettings

_DEFAULTS = IP2PSettings()


class EditorResource(dg.ConfigurableResource):
    """Empty ``model`` means ``COSAVATAR_IP2P_MODEL`` or ``timbrooks/instruct-pix2pix`` (looked up in the HF cache)."""

    model: str = ""  # a local directory saved with save_pretrained, or a repo id in the HF cache
    guidance_scale: float = _DEFAULTS.guidance_scale
    image_guidance_scale: float = _DEFAULTS.image_guidance_scale
    steps: int = _DEFAULTS.steps
    noise_lower: float = _DEFAULTS.noise_lower
    noise_upper: float = _DEFAULTS.noise_upper

    def settings(self) -> IP2PSettings:
        values = self.model_dump()
        values["model"] = values["model"] or os.environ.get("COSAVATAR_IP2P_MODEL") or _DEFAULTS.model
        return IP2PSettings(**values)
