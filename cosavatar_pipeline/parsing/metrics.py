"""Figures of a label-map sequence: how much of the frame each class covers, and how stable it is over time."""

from __future__ import annotations

import numpy as np

from cosavatar_pipeline.parsing.labels import LABELS


def class_area_fractions(label_maps: np.ndarray) -> dict[str, float]:
    counts = np.bincount(np.asarray(label_maps).ravel(), minlength=256)
    total = counts.sum()
    return {name: float(counts[label] / total) for label, name in LABELS.items()}


def consecutive_iou(label_maps: np.ndarray, min_area_px: int = 20) -> dict[str, float]:
    """Mean IoU of each class between consecutive frames, over frame pairs where the class is present in either
    frame with at least ``min_area_px`` pixels (tiny regions make IoU meaningless)."""
    results: dict[str, float] = {}
    for label, name in LABELS.items():
        values = []
        for before, after in zip(label_maps[:-1], label_maps[1:]):
            a, b = before == label, after == label
            union = np.count_nonzero(a | b)
            if union >= min_area_px:
                values.append(np.count_nonzero(a & b) / union)
        if values:
            results[name] = float(np.mean(values))
    return results


def presence_ratio(label_maps: np.ndarray, labels: tuple[int, ...], min_area_px: int = 20) -> float:
    """Fraction of frames in which the given labels cover at least ``min_area_px`` pixels."""
    present = [np.count_nonzero(np.isin(frame, labels)) >= min_area_px for frame in label_maps]
    return float(np.mean(present))
