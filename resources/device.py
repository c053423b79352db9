"""Compute device: ``auto`` picks CUDA when present."""

from __future__ import annotations

import dagster as dg


class ComputeDevice(dg.ConfigurableResource):
    device: str = "auto"  # auto | cpu | cuda | cuda:N

    def torch_device(self):
        import torch

        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)
