"""Temporal consistency measured with the optical flow of the SOURCE video: how much a sequence changes between
consecutive frames beyond what the source's own motion explains (the warping error)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

OCCLUSION_TOLERANCE_PX = 1.0


def _flow(dis, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    grey = [np.ascontiguousarray(cv2.cvtColor(np.asarray(f), cv2.COLOR_RGB2GRAY)) for f in (first, second)]
    return dis.calc(grey[0], grey[1], None)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` at x + flow(x) (bilinear): brings frame t into frame t+1 with the flow t+1 -> t."""
    height, width = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(
        np.asarray(image), xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


@dataclass
class SourceFlow:
    """For each pair (t, t+1): the flow from frame t+1 back to t and where it is trustworthy."""

    backward: np.ndarray  # (N-1, H, W, 2) float32
    valid: np.ndarray  # (N-1, H, W) bool: forward-backward consistent and inside the frame

    @property
    def valid_fraction(self) -> float:
        return float(self.valid.mean())


def source_flow(frames: np.ndarray, tolerance_px: float = OCCLUSION_TOLERANCE_PX) -> SourceFlow:
    """DIS optical flow (OpenCV) in both directions between consecutive frames; a pixel of frame t+1 is valid when
    going back to t and forward again returns within ``tolerance_px`` (not occluded) and stays inside the frame."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    count, height, width = len(frames), frames.shape[1], frames.shape[2]
    backward = np.empty((count - 1, height, width, 2), np.float32)
    valid = np.empty((count - 1, height, width), bool)
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    for t in range(count - 1):
        back = _flow(dis, frames[t + 1], frames[t])
        forward = _flow(dis, frames[t], frames[t + 1])
        round_trip = back + warp(forward, back)
        target_x, target_y = xs + back[..., 0], ys + back[..., 1]
        inside = (target_x >= 0) & (target_x <= width - 1) & (target_y >= 0) & (target_y <= height - 1)
        backward[t] = back
        valid[t] = inside & (np.linalg.norm(round_trip, axis=-1) < tolerance_px)
    return SourceFlow(backward, valid)


def warping_error(
    sequence: np.ndarray, flow: SourceFlow, pairs: np.ndarray | None = None, region: np.ndarray | None = None
) -> float:
    """Mean absolute difference (0-255 levels) between frame t+1 of ``sequence`` and its frame t warped by the
    source's flow, over valid pixels (and inside ``region`` of frame t+1 when given, (N, H, W) bool), averaged
    over the pairs ``pairs`` (indices t; default all)."""
    pairs = np.arange(len(flow.backward)) if pairs is None else np.asarray(pairs)
    total, weight = 0.0, 0
    for t in pairs:
        mask = flow.valid[t] if region is None else flow.valid[t] & region[t + 1]
        if not mask.any():
            continue
        difference = np.abs(
            np.asarray(sequence[t + 1], np.float32) - warp(sequence[t], flow.backward[t]).astype(np.float32)
        )
        total += float(difference[mask].sum())
        weight += int(mask.sum()) * difference.shape[-1]
    if weight == 0:
        raise ValueError("no valid pixels to measure the warping error on")
    return total / weight


def consecutive_pairs(frame_ids: np.ndarray) -> np.ndarray:
    """Indices t such that t and t+1 are both in ``frame_ids`` (e.g. training frames around held-out ones)."""
    present = set(int(i) for i in frame_ids)
    return np.array(sorted(t for t in present if t + 1 in present), dtype=int)
