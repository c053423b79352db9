"""Render whole frames from a trained avatar for any expression codes, head poses and appearance latents."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from cosavatar_pipeline.nerf.dataset import AvatarDataset, RayBatch, pose_conditions
from cosavatar_pipeline.nerf.model import AvatarModel

CHUNK = 16384
# Warp fields are built for this many frames at a time: all of a 30 s clip's at once held 1 GB more
WARP_BLOCK_FRAMES = 32


@torch.no_grad()
def render_frames(
    model: AvatarModel,
    dataset: AvatarDataset,
    expressions: np.ndarray,
    rotations: np.ndarray,
    translations: np.ndarray,
    warp_offsets: np.ndarray,
    appearance: np.ndarray | None = None,
    pose_reference: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Returns rgb (N, S, S, 3) uint8, opacity (N, S, S), depth (N, S, S) mm, head_share (N, S, S).

    expressions (N, K) raw codes; warp_offsets (N, L, 3) mm, the warp landmarks' displacements from the neutral
    face (``AvatarDataset.warp_offsets`` for the video's own frames, ``retarget`` for another person's);

    appearance: (N, A) latents, default zero (new motion). pose_reference: the rotations and translations the
    torso's pose conditioning is relative to (default: the dataset's own, so a retargeted pose is read on the
    target's terms).
    """
    model.eval()
    device = next(model.parameters()).device
    count, size = len(expressions), dataset.size
    reference_rotations, reference_translations = pose_reference or (dataset.rotations, dataset.translations)
    conditions = pose_conditions(rotations, translations, (reference_rotations, reference_translations))
    pixels = dataset.full_frame_pixels()
    background = torch.from_numpy(dataset.plate[pixels[:, 1], pixels[:, 0]])
    latents = np.zeros((count, model.config.appearance_dims), np.float32) if appearance is None else appearance
    outputs = {"rgb": [], "opacity": [], "depth": [], "head_share": []}
    warp = None
    for index in range(count):
        if model.warped and index % WARP_BLOCK_FRAMES == 0:
            warp = None  # the previous block's fields go before the next one's are built
            warp = dataset.warp_fields(warp_offsets[index : index + WARP_BLOCK_FRAMES]).to(device)
        frame_out = {k: [] for k in outputs}
        for start in range(0, len(pixels), CHUNK):
            chunk = pixels[start : start + CHUNK]
            n = len(chunk)
            rays = RayBatch(
                frame=torch.zeros(n, dtype=torch.long),
                pixels=torch.from_numpy(chunk.astype(np.float32)),
                rotation=torch.from_numpy(np.repeat(rotations[index : index + 1].astype(np.float32), n, axis=0)),
                translation=torch.from_numpy(np.repeat(translations[index : index + 1].astype(np.float32), n, axis=0)),
                expression=torch.from_numpy(np.repeat(expressions[index : index + 1].astype(np.float32), n, axis=0)),
                warp_index=torch.full((n,), index % WARP_BLOCK_FRAMES, dtype=torch.long),
                pose_condition=torch.from_numpy(np.repeat(conditions[index : index + 1], n, axis=0)),
                background=background[start : start + CHUNK],
            ).to(device)
            latent = torch.from_numpy(np.repeat(latents[index : index + 1].astype(np.float32), n, axis=0)).to(device)
            result = model.render_rays(
                rays, camera=dataset.camera, warp=warp, appearance=latent, jitter=False, skip_empty=True
            )
            for key in frame_out:
                frame_out[key].append(result[key].cpu())
        for key in outputs:
            values = torch.cat(frame_out[key]).numpy()
            values = values.reshape(size, size, *values.shape[1:])
            if key == "rgb":  # uint8 as it is made: a clip's float frames are 4x the memory
                values = (values.clip(0, 1) * 255 + 0.5).astype(np.uint8)
            outputs[key].append(values)
        if progress:
            progress(index + 1, count)
    model.train()
    return {
        "rgb": np.stack(outputs["rgb"]),
        "opacity": np.stack(outputs["opacity"]),
        "depth": np.stack(outputs["depth"]),
        "head_share": np.stack(outputs["head_share"]),
    }


def render_dataset_frames(
    model: AvatarModel,
    dataset: AvatarDataset,
    frame_ids: np.ndarray,
    own_appearance: bool,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Re-render the dataset's own frames; held-out frames use a zero appearance latent."""
    appearance = model.appearance[torch.from_numpy(frame_ids)].detach().cpu().numpy() if own_appearance else None
    return render_frames(
        model,
        dataset,
        dataset.expressions[frame_ids],
        dataset.rotations[frame_ids],
        dataset.translations[frame_ids],
        dataset.warp_offsets[frame_ids],
        appearance,
        progress=progress,
    )
