"""An editor that needs no model weights: a documented vocabulary of colour and style edits done with image
operations. It makes the pipeline usable (and testable) without InstructPix2Pix; it does not understand free text.

Vocabulary:
- recolouring: any colour in ``COLOURS`` (e.g. "give her pink hair", "make his shirt red", "blue lips"),
  texture-preserving (hue and saturation move to the colour, lightness detail is kept), inside the edit's mask
  only, as an instruction-following editor would;
- styles: the keys of ``STYLES`` (and their synonyms in ``STYLE_WORDS``).
"""

from __future__ import annotations

import re

import cv2
import numpy as np

from cosavatar_pipeline.editing.blend import blend
from cosavatar_pipeline.errors import InputError

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (200, 30, 35),
    "pink": (245, 120, 180),
    "hot pink": (255, 50, 150),
    "magenta": (220, 40, 200),
    "purple": (120, 50, 170),
    "violet": (150, 90, 220),
    "lavender": (185, 160, 230),
    "blue": (40, 80, 220),
    "navy": (25, 35, 100),
    "teal": (20, 130, 130),
    "cyan": (40, 200, 220),
    "turquoise": (60, 210, 190),
    "green": (40, 160, 60),
    "mint": (150, 230, 180),
    "lime": (150, 230, 40),
    "olive": (110, 110, 40),
    "yellow": (240, 215, 40),
    "gold": (215, 170, 50),
    "orange": (245, 130, 30),
    "coral": (250, 120, 95),
    "brown": (110, 70, 40),
    "copper": (185, 95, 50),
    "auburn": (150, 50, 30),
    "burgundy": (120, 20, 45),
    "blonde": (225, 195, 125),
    "platinum": (225, 220, 210),
    "silver": (190, 190, 195),
    "white": (240, 240, 240),
    "grey": (128, 128, 128),
    "gray": (128, 128, 128),
    "black": (25, 22, 22),
}

STYLE_WORDS: dict[str, tuple[str, ...]] = {
    "pencil sketch": ("pencil sketch", "sketch", "pencil drawing", "drawing"),
    "sepia": ("sepia", "old photo", "vintage photo"),
    "black and white": ("black and white", "black-and-white", "grayscale", "greyscale", "monochrome"),
    "cartoon": ("cartoon", "comic", "anime"),
    "oil painting": ("oil painting", "painting", "painted"),
    "bronze statue": ("bronze statue", "bronze", "statue"),
    "pop art": ("pop art", "warhol"),
}


def _luminance(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def pencil_sketch(image: np.ndarray) -> np.ndarray:
    grey = _luminance(image).astype(np.float32)
    blurred = cv2.GaussianBlur(255 - grey, (0, 0), sigmaX=max(1.0, image.shape[0] / 64))
    dodge = (grey * 255 / np.maximum(255 - blurred, 1)).clip(0, 255).astype(np.uint8)
    return np.repeat(dodge[..., None], 3, axis=2)


def sepia(image: np.ndarray) -> np.ndarray:
    matrix = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], np.float32)
    return (image.astype(np.float32) @ matrix.T).clip(0, 255).astype(np.uint8)


def black_and_white(image: np.ndarray) -> np.ndarray:
    return np.repeat(_luminance(image)[..., None], 3, axis=2)


def cartoon(image: np.ndarray) -> np.ndarray:
    smooth = image
    for _ in range(2):
        smooth = cv2.bilateralFilter(smooth, 7, 60, 7)
    flat = (smooth // 40) * 40 + 20
    edges = cv2.adaptiveThreshold(
        cv2.medianBlur(_luminance(image), 5), 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 4
    )
    return (flat * (edges[..., None] / 255)).astype(np.uint8)


def oil_painting(image: np.ndarray) -> np.ndarray:
    return cv2.xphoto.oilPainting(np.ascontiguousarray(image), max(3, image.shape[0] // 48), 1, cv2.COLOR_RGB2Lab)


def bronze_statue(image: np.ndarray) -> np.ndarray:
    grey = _luminance(image).astype(np.float32) / 255
    stops = np.array([0.0, 0.45, 0.8, 1.0])
    colours = np.array([[35, 20, 8], [140, 80, 30], [205, 135, 60], [255, 225, 170]], np.float32)
    return np.stack([np.interp(grey, stops, colours[:, c]) for c in range(3)], axis=-1).astype(np.uint8)


def pop_art(image: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hsv[..., 1] = np.clip(hsv[..., 1].astype(np.int32) * 2 + 60, 0, 255).astype(np.uint8)
    hsv[..., 2] = (hsv[..., 2] // 64) * 64 + 48
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


STYLES = {
    "pencil sketch": pencil_sketch,
    "sepia": sepia,
    "black and white": black_and_white,
    "cartoon": cartoon,
    "oil painting": oil_painting,
    "bronze statue": bronze_statue,
    "pop art": pop_art,
}


def recolour(image: np.ndarray, colour: tuple[int, int, int], mask: np.ndarray) -> np.ndarray:
    """Move hue and saturation to ``colour`` and the region's mean lightness most of the way to it, keeping the
    lightness detail (strands, folds, shading) of the original. Statistics come from the region (mask > 0.5)."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
    target = cv2.cvtColor(np.array([[colour]], np.float32) / 255, cv2.COLOR_RGB2LAB)[0, 0]
    region = mask > 0.5
    if not region.any():
        return image.copy()
    mean = lab[region].mean(axis=0)
    out = lab.copy()
    out[..., 0] = lab[..., 0] - mean[0] + (0.35 * mean[0] + 0.65 * target[0])
    out[..., 1] = target[1] + 0.2 * (lab[..., 1] - mean[1])
    out[..., 2] = target[2] + 0.2 * (lab[..., 2] - mean[2])
    rgb = cv2.cvtColor(out, cv2.COLOR_LAB2RGB)
    return (rgb * 255 + 0.5).clip(0, 255).astype(np.uint8)


def _find(phrases, text: str) -> str | None:
    for phrase in sorted(phrases, key=len, reverse=True):
        if re.search(rf"\b{re.escape(phrase)}\b", text):
            return phrase
    return None


def supported_vocabulary() -> str:
    return f"colours: {', '.join(sorted(COLOURS))}; styles: {', '.join(STYLES)}"


def parse_prompt(prompt: str) -> tuple[str, str]:
    """("style", name) or ("colour", name) for a prompt in the vocabulary; InputError otherwise."""
    text = prompt.lower()
    for style, words in STYLE_WORDS.items():
        if _find(words, text):
            return "style", style
    colour = _find(COLOURS, text)
    if colour:
        return "colour", colour
    raise InputError(
        f"prompt {prompt!r}",
        f"the procedural editor does not support it (no InstructPix2Pix weights are in use); it supports "
        f"{supported_vocabulary()}",
    )


class ProceduralEditor:
    """Filters the ORIGINAL frame, not the render: a filter has no image prior to restore the detail a NeRF render
    lacks, and a sketch of a (soft) render is a blank page. Being deterministic, it gives every round the same
    targets; the rounds then only refine the avatar's fit to them (the render still starts each IP2P edit)."""

    name = "procedural"
    resolution = None  # image filters work at any size
    batch_size = 16

    def edit(
        self, renders: np.ndarray, originals: np.ndarray, prompt: str, masks: np.ndarray, seeds: np.ndarray
    ) -> np.ndarray:
        return np.stack([self.edit_frame(original, prompt, mask) for original, mask in zip(originals, masks)])

    def noise_level(self, seed: int) -> None:
        return None

    def edit_frame(self, original: np.ndarray, prompt: str, mask: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 original, (H, W) mask -> the edited frame."""
        kind, name = parse_prompt(prompt)
        image = np.ascontiguousarray(original)
        if kind == "style":
            return STYLES[name](image)
        return blend(recolour(image, COLOURS[name], mask), image, mask)
