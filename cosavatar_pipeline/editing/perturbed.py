"""A controlled inconsistent editor, FOR MEASUREMENT ONLY (no edit can select it): the procedural edit with an
independent random perturbation per frame and round, the way InstructPix2Pix's per-frame edits disagree with
each other — hue, lightness, a low-frequency texture field and a few pixels of jitter at the region's boundary.
With it the consistency the NeRF loop adds can be measured on a machine without diffusion weights."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cosavatar_pipeline.editing.procedural import ProceduralEditor


@dataclass(frozen=True)
class Perturbation:
    hue_degrees: float = 10.0  # standard deviation of the per-frame rotation of a*b* (CIELAB)
    lightness: float = 5.0  # standard deviation of the per-frame lightness shift (L*, 0-100)
    texture: float = 6.0  # standard deviation of the low-frequency lightness field (L*)
    texture_cells: int = 4  # the field is smooth noise on this many cells per side
    boundary_px: int = 2  # the region's edge moves in or out by up to this many pixels


class PerturbedEditor:
    name = "perturbed_procedural"
    resolution = None
    batch_size = 16

    def __init__(self, perturbation: Perturbation = Perturbation()):
        self.perturbation = perturbation
        self.base = ProceduralEditor()

    def noise_level(self, seed: int) -> None:
        return None

    def edit(
        self, renders: np.ndarray, originals: np.ndarray, prompt: str, masks: np.ndarray, seeds: np.ndarray
    ) -> np.ndarray:
        edited = []
        for original, mask, seed in zip(originals, masks, seeds):
            rng = np.random.default_rng(int(seed))
            jittered = jitter_boundary(
                mask, int(rng.integers(-self.perturbation.boundary_px, self.perturbation.boundary_px + 1))
            )
            edited.append(perturb(self.base.edit_frame(original, prompt, jittered), jittered, rng, self.perturbation))
        return np.stack(edited)


def jitter_boundary(mask: np.ndarray, pixels: int) -> np.ndarray:
    """(H, W) float mask grown (pixels > 0) or shrunk (< 0) by ``|pixels|``."""
    if pixels == 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(pixels) + 1,) * 2)
    operation = cv2.dilate if pixels > 0 else cv2.erode
    return operation(mask.astype(np.float32), kernel)


def perturb(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, perturbation: Perturbation) -> np.ndarray:
    """(H, W, 3) uint8 -> the same with a random hue rotation, lightness shift and smooth lightness field, applied
    in proportion to ``mask`` (H, W)."""
    height, width = mask.shape
    lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
    angle = np.deg2rad(rng.normal(0, perturbation.hue_degrees))
    a, b = lab[..., 1].copy(), lab[..., 2].copy()
    cells = rng.normal(0, perturbation.texture, (perturbation.texture_cells,) * 2).astype(np.float32)
    field = cv2.resize(cells, (width, height), interpolation=cv2.INTER_CUBIC)
    changed = lab.copy()
    changed[..., 0] = lab[..., 0] + rng.normal(0, perturbation.lightness) + field
    changed[..., 1] = np.cos(angle) * a - np.sin(angle) * b
    changed[..., 2] = np.sin(angle) * a + np.cos(angle) * b
    weight = mask.astype(np.float32)[..., None]
    mixed = weight * changed + (1 - weight) * lab
    mixed[..., 0] = mixed[..., 0].clip(0, 100)
    rgb = cv2.cvtColor(mixed, cv2.COLOR_LAB2RGB)
    return (rgb * 255 + 0.5).clip(0, 255).astype(np.uint8)
