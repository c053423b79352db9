"""The editor interface shared by the InstructPix2Pix and procedural editors."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Editor(Protocol):
    name: str
    resolution: int | None  # the square side the editor works at (frames are windowed and resized); None: as given
    batch_size: int  # frames per call of ``edit``

    def edit(
        self, renders: np.ndarray, originals: np.ndarray, prompt: str, masks: np.ndarray, seeds: np.ndarray
    ) -> np.ndarray:
        """Edit ``renders`` ((B, H, W, 3) uint8, the current avatar's renderings) as ``prompt`` asks.

        ``originals`` are the source frames the edits are conditioned on; ``masks`` ((B, H, W) float in [0, 1]) the
        region each edit may change (an editor may use it, the blend enforces it); ``seeds`` (B,) one per frame: a
        frame's edit depends on its own seed only, not on the batch it is in. Returns (B, H, W, 3) uint8.
        """
        ...

    def noise_level(self, seed: int) -> float | None:
        """The diffusion noise level the edit with ``seed`` starts from (None for editors without one)."""
        ...
