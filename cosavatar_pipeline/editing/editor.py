"""The editor interface shared by the InstructPix2Pix and procedural editors."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Editor(Protocol):
    name: str

    def edit(self, render: np.ndarray, original: np.ndarray, prompt: str, mask: np.ndarray, seed: int) -> np.ndarray:
        """Edit ``render`` ((H, W, 3) uint8, the current avatar's rendering) as ``prompt`` asks.

        ``original`` is the source frame the edit is conditioned on; ``mask`` ((H, W) float in [0, 1]) is the
        region the edit may change (an editor may use it, the blend enforces it). Returns (H, W, 3) uint8.
        """
        ...
