"""Which frames are held out: every n-th frame (interpolation between seen expressions) and one contiguous segment
that covers most of the clip's mouth openings (expressions the avatar never saw in training)."""

from __future__ import annotations

import numpy as np


def interleaved(count: int, every: int) -> np.ndarray:
    """Frame ids ``every // 2, every // 2 + every, ...``; none when ``every`` is 0."""
    frame_ids = np.arange(count)
    return frame_ids[frame_ids % every == every // 2] if every else frame_ids[:0]


def contiguous_segment(mouth_open: np.ndarray, length: int, max_share: float = 0.25) -> np.ndarray:
    """The window of ``length`` consecutive frames whose mouth-opening range (max - min) is widest, ties broken by
    the widest opening; empty when ``length`` is 0 or the window would take more than ``max_share`` of the clip.

    mouth_open: (N,) per-frame mouth-open ratio."""
    count = len(mouth_open)
    if length <= 0 or length > max_share * count:
        return np.zeros(0, np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(mouth_open, length)
    spread = windows.max(axis=1) - windows.min(axis=1)
    score = spread + 1e-3 * windows.max(axis=1)
    start = int(np.argmax(score))
    return np.arange(start, start + length)


def within_training_openings(mouth_open: np.ndarray, train: np.ndarray, frame_ids: np.ndarray) -> np.ndarray:
    """(F,) bool: which of ``frame_ids`` open the mouth no wider than the widest training frame does. The segment
    holds most of the clip's openings, so some of its frames open wider than anything the avatar was trained on.

    mouth_open: (N,) per-frame mouth-open ratio; train, frame_ids: frame ids."""
    return mouth_open[frame_ids] <= mouth_open[train].max()
