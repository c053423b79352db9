"""Small preview images (contact sheets) for MLflow artifacts and Dagster metadata."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image

from cosavatar_pipeline.atomic import atomic_file


def evenly_spaced(total: int, count: int) -> np.ndarray:
    """Indices of up to ``count`` evenly spaced items of ``total``, first and last included."""
    return np.unique(np.linspace(0, total - 1, num=min(count, total)).round().astype(int))


def contact_sheet(frames: np.ndarray, count: int = 8, columns: int = 4, tile: int = 128) -> np.ndarray:
    """A grid of ``count`` evenly spaced frames from (N, H, W, 3) uint8, each resized to ``tile`` px wide."""
    picks = evenly_spaced(len(frames), count)
    tiles = []
    for index in picks:
        image = Image.fromarray(np.asarray(frames[index]))
        tile_height = round(image.height * tile / image.width)
        tiles.append(np.asarray(image.resize((tile, tile_height), Image.Resampling.LANCZOS)))
    rows = -(-len(tiles) // columns)
    height, width = tiles[0].shape[:2]
    sheet = np.full((rows * height, columns * width, 3), 255, dtype=np.uint8)
    for i, image in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet[r * height : (r + 1) * height, c * width : (c + 1) * width] = image
    return sheet


def save_png(path: Path, image: np.ndarray) -> Path:
    with atomic_file(Path(path), "wb") as handle:
        Image.fromarray(image).save(handle, format="PNG")
    return Path(path)


def png_data_uri(image: np.ndarray, max_width: int = 512) -> str:
    """A base64 PNG for markdown metadata, downscaled so the event log stays small."""
    picture = Image.fromarray(image)
    if picture.width > max_width:
        picture = picture.resize((max_width, round(picture.height * max_width / picture.width)))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def draw_points(
    image: np.ndarray, point_sets: list[tuple[np.ndarray, tuple[int, int, int]]], scale: int = 2
) -> np.ndarray:
    """Upscale ``image`` by ``scale`` and draw each (P, 2) pixel point set as dots of the given RGB colour."""
    import cv2

    canvas = cv2.resize(np.asarray(image), None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    for points, colour in point_sets:
        for x, y in np.asarray(points)[:, :2] * scale:
            cv2.circle(canvas, (int(round(x)), int(round(y))), 1, colour, -1, lineType=cv2.LINE_AA)
    return canvas
