"""Which editor an edit runs with: `ip2p`, `procedural`, or `auto` (InstructPix2Pix when its weights are on this
machine, else procedural). The reason is returned so logs and metadata can say plainly which editor produced a
result and why."""

from __future__ import annotations

import torch

from cosavatar_pipeline.editing.editor import Editor
from cosavatar_pipeline.editing.ip2p import EditorUnavailable, InstructPix2PixEditor, IP2PSettings
from cosavatar_pipeline.editing.procedural import ProceduralEditor


def choose_editor(kind: str, settings: IP2PSettings = IP2PSettings(), device: torch.device | str = "cpu") -> tuple[Editor, str]:
    if kind == "procedural":
        return ProceduralEditor(), "procedural: requested by the edit"
    if kind not in ("ip2p", "auto"):
        raise ValueError(f"unknown editor {kind!r}: auto, ip2p or procedural")
    try:
        return InstructPix2PixEditor(settings, device), f"ip2p: weights from {settings.model}"
    except EditorUnavailable as exc:
        if kind == "ip2p":
            raise
        return ProceduralEditor(), f"procedural: auto fell back because {exc}"
