"""A whole clip delivered in its own frame: native source frames streamed through ``deliver_frame`` into final.mp4
and a side-by-side, with the figures that say whether the edit and the source's detail both arrived."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from cosavatar_pipeline.editing.regions import dilate
from cosavatar_pipeline.render.delivery import DeliveredFrame, DeliveryConfig, deliver_frame
from cosavatar_pipeline.video.crop import CropPlacement
from cosavatar_pipeline.video.encode import open_mp4
from cosavatar_pipeline.video.native import NativeFrame
from cosavatar_pipeline.video.planes import I420

SIDE_BY_SIDE_MAX_WIDTH = 1920
FIGURE_FRAMES = 16  # frames the detail and colour figures are taken on, evenly spaced
EDGE_WINDOW_PX = 48  # native pixels around the region's edge shown at 4x on the contact sheet


def laplacian_variance(image: np.ndarray, where: np.ndarray) -> float:
    """Variance of the luminance's Laplacian (0-255 levels) of an (H, W, 3) uint8 image over (H, W) bool pixels:
    its high-frequency energy there."""
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(cv2.Laplacian(grey, cv2.CV_32F, ksize=3)[where].var())


def detail_ratio(delivered: np.ndarray, source: np.ndarray, where: np.ndarray) -> float:
    """High-frequency energy of ``delivered`` over ``source``'s in the same pixels (1: the source's detail kept)."""
    return laplacian_variance(delivered, where) / max(laplacian_variance(source, where), 1e-6)


def mean_delta_e(image: np.ndarray, reference: np.ndarray, where: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference of two (H, W, 3) uint8 images over (H, W) bool pixels."""
    return float(deltaE_ciede2000(rgb2lab(image[where][None]), rgb2lab(reference[where][None])).mean())


def side_by_side_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) of one half of the side-by-side: the native size, shrunk so the pair is at most
    ``SIDE_BY_SIDE_MAX_WIDTH`` wide."""
    scale = min(1.0, SIDE_BY_SIDE_MAX_WIDTH / (2 * width))
    return max(2, round(height * scale) // 2 * 2), max(2, round(width * scale) // 2 * 2)


@dataclass
class FrameFigures:
    """The figures of one delivered frame, inside the edit's region."""

    detail_ratio: float  # the delivered region's high-frequency energy over the source's (native pixels)
    delta_e: float  # the delivered region brought back to the crop's size against the crop composite


def frame_figures(
    delivered: DeliveredFrame, native: np.ndarray, composite: np.ndarray, region: np.ndarray, placement: CropPlacement
) -> FrameFigures | None:
    """None when the frame shows no region (or the crop box leaves too little of it in the frame)."""
    inside = delivered.matte >= 0.5
    inner = ~dilate(~inside, max(1, round(placement.scale)))  # away from the region's own edge
    if inner.sum() < 16:
        return None
    rows, columns = delivered.rows, delivered.columns
    ratio = detail_ratio(delivered.frame[rows, columns], native[rows, columns], inner)
    frame_rows, frame_columns, crop_rows, crop_columns = placement.visible()
    if (frame_rows.stop - frame_rows.start, frame_columns.stop - frame_columns.start) != (placement.size,) * 2:
        return FrameFigures(ratio, float("nan"))  # a crop box past the frame's edge has no whole crop to compare
    crop = cv2.resize(
        delivered.frame[frame_rows, frame_columns], (placement.resolution,) * 2, interpolation=cv2.INTER_AREA
    )
    core = ~dilate(~region, 1)
    return FrameFigures(ratio, mean_delta_e(crop, composite, core) if core.any() else float("nan"))


def edge_window(delivered: DeliveredFrame) -> tuple[slice, slice] | None:
    """Native rows and columns of an ``EDGE_WINDOW_PX`` square on the region's edge: around its topmost pixel
    where the matte is between 0.2 and 0.8 (on a hair edit, the top of the head)."""
    ys, xs = np.nonzero((delivered.matte > 0.2) & (delivered.matte < 0.8))
    if len(ys) == 0:
        return None
    top = int(np.argmin(ys))
    y, x = delivered.rows.start + int(ys[top]), delivered.columns.start + int(xs[top])
    height, width = delivered.frame.shape[:2]
    half = EDGE_WINDOW_PX // 2
    y0, x0 = int(np.clip(y - half, 0, height - EDGE_WINDOW_PX)), int(np.clip(x - half, 0, width - EDGE_WINDOW_PX))
    return slice(y0, y0 + EDGE_WINDOW_PX), slice(x0, x0 + EDGE_WINDOW_PX)


@dataclass
class DeliveryResult:
    frame_count: int
    height: int  # native, as displayed
    width: int
    figures: dict[str, float]
    samples: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (source, delivered) full frames
    edge: np.ndarray | None = None  # (source | delivered | bicubic) at 4x around the region's edge, one frame


def bicubic_delivery(native: np.ndarray, composite: np.ndarray, placement: CropPlacement) -> np.ndarray:
    """The baseline: the crop composite upsampled bicubically and pasted over the native frame."""
    frame_rows, frame_columns, crop_rows, crop_columns = placement.visible()
    pasted = np.array(native)
    upsampled = cv2.resize(composite, (placement.size,) * 2, interpolation=cv2.INTER_CUBIC)
    pasted[frame_rows, frame_columns] = upsampled[crop_rows, crop_columns]
    return pasted


def _edge_sheet(delivered: DeliveredFrame, native: np.ndarray, composite: np.ndarray, placement) -> np.ndarray | None:
    window = edge_window(delivered)
    if window is None:
        return None
    bicubic = bicubic_delivery(native, composite, placement)
    tiles = [image[window] for image in (native, delivered.frame, bicubic)]
    return cv2.resize(np.concatenate(tiles, axis=1), None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)


def deliver_video(
    natives: Iterable[NativeFrame],
    sources: np.ndarray,
    renders: np.ndarray,
    composites: np.ndarray,
    regions: np.ndarray,
    crop_box: dict,
    fps: float,
    out_final: Path,
    out_side_by_side: Path,
    audio_from: Path | None = None,
    config: DeliveryConfig = DeliveryConfig(),
    progress: Callable[[int, int], None] | None = None,
    sample_count: int = 4,
) -> DeliveryResult:
    """Stream the native frames (one per crop frame, ``native_frames``) into ``out_final`` (the source with the
    edit) and ``out_side_by_side`` (source | final, at most 1920 px wide), both with ``audio_from``'s audio. Pixels
    the delivery left as decoded reach final.mp4's encoder in the source's own yuv420p values.

    sources, renders, composites: (N, S, S, 3) uint8, the crop frames, the edited avatar's renders and their
    composite into the crop; regions: (N, S, S) bool, the composite's grown regions; crop_box: the frames
    stage's ``CropBox`` as a dict (left, top, size)."""
    count, resolution = len(sources), sources.shape[1]
    measured = set(np.unique(np.linspace(0, count - 1, FIGURE_FRAMES).round().astype(int)).tolist())
    sampled = set(np.unique(np.linspace(0, count - 1, sample_count).round().astype(int)).tolist())
    figures: list[FrameFigures] = []
    result = DeliveryResult(0, 0, 0, {})
    seconds = 0.0
    with (
        open_mp4(out_final, fps, crf=config.final_crf, audio_from=audio_from) as final,
        open_mp4(out_side_by_side, fps, audio_from=audio_from) as pairs,
    ):
        for index, source_frame in enumerate(natives):
            if index >= count:
                break
            native = source_frame.rgb
            height, width = native.shape[:2]
            placement = CropPlacement.of(crop_box, resolution, height, width)
            started = time.perf_counter()
            delivered = deliver_frame(native, sources[index], renders[index], regions[index], placement, config)
            seconds += time.perf_counter() - started
            _add_final(final, delivered, source_frame)
            half = side_by_side_size(height, width)[::-1]
            pairs.add(
                np.concatenate(
                    [cv2.resize(f, half, interpolation=cv2.INTER_AREA) for f in (native, delivered.frame)], 1
                )
            )
            if index in measured:
                frame = frame_figures(delivered, native, composites[index], regions[index], placement)
                if frame is not None:
                    figures.append(frame)
                if result.edge is None:
                    result.edge = _edge_sheet(delivered, native, composites[index], placement)
            if index in sampled:
                result.samples.append((np.array(native), delivered.frame))
            result.frame_count, result.height, result.width = index + 1, height, width
            if progress:
                progress(index + 1, count)
    if result.frame_count != count:
        raise ValueError(f"{count} crop frames but {result.frame_count} native frames to deliver them into")
    result.figures = {
        "delivered_width": float(result.width),
        "delivered_height": float(result.height),
        "detail_ratio": float(np.nanmean([f.detail_ratio for f in figures])) if figures else float("nan"),
        "delta_e_vs_crop_composite": float(np.nanmean([f.delta_e for f in figures])) if figures else float("nan"),
        "delivery_seconds_per_frame": seconds / count,
    }
    return result


def _add_final(final, delivered: DeliveredFrame, source: NativeFrame) -> None:
    if source.planes is None:
        final.add(delivered.frame)
        return
    changed = np.any(delivered.frame != source.rgb, axis=2)
    final.add_planes(source.planes.with_pixels_of(I420.of_rgb(delivered.frame), changed))


def delivery_sheet(result: DeliveryResult, tile: int = 480) -> np.ndarray:
    """The sampled frames as (source | final) pairs, one pair a row, each frame ``tile`` px wide, and under them the
    4x crop of the region's edge (source | delivered | bicubic), at its own size."""
    rows = []
    for source, delivered in result.samples:
        height = round(source.shape[0] * tile / source.shape[1])
        rows.append(
            np.concatenate(
                [cv2.resize(f, (tile, height), interpolation=cv2.INTER_AREA) for f in (source, delivered)], 1
            )
        )
    width = 2 * tile
    if result.edge is not None:
        edge = result.edge
        if edge.shape[1] > width:
            edge = cv2.resize(edge, (width, round(edge.shape[0] * width / edge.shape[1])), interpolation=cv2.INTER_AREA)
        rows.append(np.pad(edge, ((0, 0), (0, width - edge.shape[1]), (0, 0)), constant_values=255))
    return np.concatenate(rows, axis=0)
