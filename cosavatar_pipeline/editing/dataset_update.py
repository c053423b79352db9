"""One round of the iterative dataset update (Instruct-NeRF2NeRF) with semantic blending (CosAvatar).

Each training frame's current avatar render is edited (conditioned on the ORIGINAL frame and the prompt); the
edit is confined to its region by ``target = M * edited + (1 - M) * original``, where ``M`` is a feathered mask of
the region in the original parsing, grown into what the edited image's parsing calls that region.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from cosavatar_pipeline.editing.blend import blend, change_inside_outside, feathered_mask
from cosavatar_pipeline.editing.config import EditRoundConfig
from cosavatar_pipeline.editing.edit_window import EditWindow, edit_window
from cosavatar_pipeline.editing.editor import Editor
from cosavatar_pipeline.editing.regions import dilate, grown_region, merged_label_map
from cosavatar_pipeline.parsing.backend import ParsingBackend
from cosavatar_pipeline.parsing.labels import region_mask
from cosavatar_pipeline.preview import evenly_spaced
from cosavatar_pipeline.video.crop import CropPlacement

Progress = Callable[[int, int], None]


def frame_seed(edit_seed: int, round_index: int, frame_id: int) -> int:
    """A different, reproducible seed (noise level, noise) for every frame of every round."""
    return (edit_seed * 1_000_003 + round_index * 10_007 + int(frame_id)) % (2**31)


@dataclass(frozen=True)
class NativeOriginals:
    """Where the editor's conditioning image (the original frame) is cut from at the source's own resolution, up
    to the editor's: the native frames and where the crop lies in them."""

    decode: Callable[[np.ndarray], np.ndarray]  # frame ids (B,) -> (B, H, W, 3) uint8 native frames, upright
    crop: dict  # the frames stage's CropBox, as recorded

    def windows(self, frame_ids, windows: list[EditWindow], resolution: int, crop_side: int) -> list[np.ndarray | None]:
        natives = self.decode(np.asarray(frame_ids))
        placements = [CropPlacement.of(self.crop, crop_side, *n.shape[:2]) for n in natives]
        return [w.crop_native(n, p, resolution) for w, n, p in zip(windows, natives, placements)]


@dataclass
class RoundDataset:
    frame_ids: np.ndarray  # (T,) training frames
    renders: np.ndarray  # (T, S, S, 3) the previous avatar's renders, what the editor started from
    raw_edits: np.ndarray  # (T, S, S, 3) the editor's outputs
    regions: np.ndarray  # (T, S, S) bool: the region the edit may change (original ∪ bounded growth)
    masks: np.ndarray  # (T, S, S) float32 in [0, 1]: the feathered blend mask
    targets: np.ndarray  # (T, S, S, 3) what the avatar is fine-tuned on
    label_maps: np.ndarray  # (T, S, S) the original labels, with the grown region labelled from the edit's parsing
    noise_levels: list[float]  # IP2P only: the noise level drawn for each frame

    def save(self, folder: Path) -> list[str]:
        """One uint8 (or int64 ids) ``.npy`` per array; masks as 0-255. Returns the file names."""
        names = []
        for item in fields(self):
            if item.name == "noise_levels":
                continue
            value = getattr(self, item.name)
            if item.name == "masks":
                value = (value * 255 + 0.5).astype(np.uint8)
            elif item.name == "regions":
                value = value.astype(np.uint8)
            np.save(Path(folder) / f"{item.name}.npy", value)
            names.append(f"{item.name}.npy")
        return names

    @classmethod
    def load(cls, folder: Path, noise_levels: list[float] | None = None) -> "RoundDataset":
        arrays = {}
        for item in fields(cls):
            if item.name == "noise_levels":
                continue
            value = np.load(Path(folder) / f"{item.name}.npy", mmap_mode="r")
            if item.name == "masks":
                value = np.asarray(value, np.float32) / 255
            elif item.name == "regions":
                value = np.asarray(value).astype(bool)
            arrays[item.name] = value
        return cls(**arrays, noise_levels=list(noise_levels or []))

    def figures(self, originals: np.ndarray, original_regions: np.ndarray, feather_px: float) -> dict[str, float]:
        """Change (0-255 levels) of targets and raw edits vs the original frames, inside vs outside the region,
        and beyond the feathered band around it (2 radii out), where the blend must leave the frame as it was."""
        target_change = [change_inside_outside(t, o, r) for t, o, r in zip(self.targets, originals, self.regions)]
        feathered = dilate(self.regions, max(1, int(np.ceil(2 * feather_px))))
        beyond = [change_inside_outside(t, o, f)[1] for t, o, f in zip(self.targets, originals, feathered)]
        raw_change = [change_inside_outside(e, o, r) for e, o, r in zip(self.raw_edits, originals, self.regions)]
        original_area = max(float(original_regions.mean()), 1e-9)
        return {
            "target_change_inside": float(np.mean([inside for inside, _ in target_change])),
            "target_change_outside": float(np.mean([outside for _, outside in target_change])),
            "target_change_beyond_feather": float(np.mean(beyond)),
            "raw_edit_change_inside": float(np.mean([inside for inside, _ in raw_change])),
            "raw_edit_change_outside": float(np.mean([outside for _, outside in raw_change])),
            "region_area": float(self.regions.mean()),
            "region_growth": float(self.regions.mean()) / original_area - 1.0,
            "frames_edited": float(len(self.frame_ids)),
        }


def update_dataset(
    renders: np.ndarray,
    originals: np.ndarray,
    original_labels: np.ndarray,
    landmarks: np.ndarray,
    frame_ids: np.ndarray,
    editor: Editor,
    parser: ParsingBackend,
    prompt: str,
    region: str,
    edit_seed: int,
    round_index: int,
    config: EditRoundConfig,
    progress: Progress | None = None,
    native: NativeOriginals | None = None,
) -> RoundDataset:
    """Edit every render and blend it into its original frame. All arrays are for the frames ``frame_ids``.
    ``native``: the editor's conditioning windows are cut from the native frames (else from ``originals``)."""
    count, size = len(frame_ids), originals.shape[1]
    original_regions = region_mask(np.asarray(original_labels), region)
    seeds = np.array([frame_seed(edit_seed, round_index, i) for i in frame_ids])
    raw_edits = np.empty_like(renders)
    for start in range(0, count, editor.batch_size):
        batch = slice(start, min(start + editor.batch_size, count))
        masks = np.stack([feathered_mask(r, config.feather_px(size)) for r in original_regions[batch]])
        windows = [
            edit_window(region, r, np.asarray(points)) for r, points in zip(original_regions[batch], landmarks[batch])
        ]
        sharp = (
            native.windows(frame_ids[batch], windows, editor.resolution, size)
            if native is not None and editor.resolution
            else None
        )
        raw_edits[batch] = edit_in_windows(
            editor, windows, renders[batch], np.asarray(originals[batch]), prompt, masks, seeds[batch], sharp
        )
        if progress:
            progress(batch.stop, count)
    noise_levels = [level for level in (editor.noise_level(int(seed)) for seed in seeds) if level is not None]
    edited_labels = np.stack(list(parser.parse(raw_edits, landmarks)))
    regions = np.stack(
        [
            grown_region(region, np.asarray(original_labels[i]), edited_labels[i], config.growth_px(size))
            for i in range(count)
        ]
    )
    masks = np.stack([feathered_mask(r, config.feather_px(size)) for r in regions])
    targets = np.stack([blend(raw_edits[i], originals[i], masks[i]) for i in range(count)])
    label_maps = np.stack(
        [
            merged_label_map(np.asarray(original_labels[i]), edited_labels[i], regions[i], original_regions[i])
            for i in range(count)
        ]
    )
    return RoundDataset(frame_ids, renders, raw_edits, regions, masks, targets, label_maps, noise_levels)


def edit_in_windows(
    editor: Editor,
    windows: list[EditWindow],
    renders: np.ndarray,
    originals: np.ndarray,
    prompt: str,
    masks: np.ndarray,
    seeds: np.ndarray,
    sharp_originals: list[np.ndarray | None] | None = None,
) -> np.ndarray:
    """One editor call on B frames, each seen through its window at the editor's resolution (or as it is when the
    editor has none) and pasted back into its render; conditioning frames and masks are cut out identically.
    ``sharp_originals``: per frame, its conditioning window already cut from the native frame (None: cut it from
    ``originals``, e.g. where the window reaches past the native frame)."""
    if not editor.resolution:
        return editor.edit(renders, originals, prompt, masks, seeds)
    side = editor.resolution

    def cut(images):
        return np.stack([window.crop(image, side) for window, image in zip(windows, images)])

    conditioning = cut(originals)
    for i, sharp in enumerate(sharp_originals or []):
        if sharp is not None:
            conditioning[i] = sharp
    edited = editor.edit(cut(renders), conditioning, prompt, cut(masks), seeds)
    return np.stack([window.paste(crop, render) for window, crop, render in zip(windows, edited, renders)])


def contact_rows(originals: np.ndarray, round_dataset: RoundDataset, rows: int = 4) -> np.ndarray:
    """Rows of original | raw edit | blended target for evenly spaced frames."""
    picks = evenly_spaced(len(round_dataset.frame_ids), rows)
    return np.concatenate(
        [np.concatenate([originals[i], round_dataset.raw_edits[i], round_dataset.targets[i]], axis=1) for i in picks],
        axis=0,
    )
