"""The parsing backend interface: frames (+ landmarks) in, label maps out. Other parsers (e.g. a BiSeNet trained
on CelebAMask-HQ, with weights the user supplies) plug in by implementing it with the same label ids."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np


class ParsingBackend(Protocol):
    name: str

    def parse(
        self, frames: np.ndarray, landmarks: np.ndarray, progress: Callable[[int, int], None] | None = None
    ) -> Iterator[np.ndarray]:
        """Yield one (S, S) uint8 label map per frame of (N, S, S, 3) frames with (N, 478, 3) landmarks."""
        ...
