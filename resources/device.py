"""Compute device: ``auto`` picks CUDA when present."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg


class ComputeDevice(dg.ConfigurableResource):
    device: str = "auto"  # auto | cpu | cuda | cuda:N

    def torch_device(self):
        import torch

        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    @contextmanager
    def peak_memory(self) -> Iterator[dict[str, float]]:
        """A dict that holds, once the block is done, ``peak_gpu_memory_mb`` (the most GPU memory PyTorch held
        during the block) on CUDA; it stays empty on a CPU."""
        import torch

        device, figures = self.torch_device(), {}
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        yield figures
        if device.type == "cuda":
            figures["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
