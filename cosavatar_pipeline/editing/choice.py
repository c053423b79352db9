"""Which editor an edit runs with: `ip2p`, `procedural`, or `auto` (InstructPix2Pix when its weights are on this
machine, else procedural). The reason is returned so logs and metadata can say plainly which editor produced a
result and why."""

from __future__ import annotations

import torch

from cosavatar_pipeline.editing.config import IP2PSettings
from cosavatar_pipeline.editing.editor import Editor
from cosavatar_pipeline.editing.ip2p import (
    EditorUnavailable,
    InstructPix2PixEditor,
    find_weights,
    hub_cache,
    missing_weights_message,
)
from cosavatar_pipeline.editing.procedural import ProceduralEditor, parse_prompt
from cosavatar_pipeline.errors import InputError

EDITOR_KINDS = ("auto", "ip2p", "procedural")


def planned_editor(kind: str, settings: IP2PSettings = IP2PSettings()) -> tuple[str, str]:
    """(editor name, reason) without loading any weights: what ``choose_editor`` will pick."""
    if kind == "procedural":
        return "procedural", "procedural: requested by the edit"
    if kind not in ("ip2p", "auto"):
        raise InputError(repr(kind), f"unknown editor; choose one of {list(EDITOR_KINDS)}")
    weights = find_weights(settings)
    if weights is not None:
        return "ip2p", f"ip2p: weights from {weights}"
    if kind == "ip2p":
        return "ip2p", f"ip2p: requested, but no weights for {settings.model!r} were found"
    return "procedural", (
        f"procedural: auto fell back because no InstructPix2Pix weights for {settings.model!r} are in a local "
        f"directory or the Hugging Face cache ({hub_cache()})"
    )


def check_editor_can_run(kind: str, prompt: str, settings: IP2PSettings = IP2PSettings()) -> tuple[str, str]:
    """Fail early, with the reason, when the edit cannot run here: IP2P asked for without weights, or a prompt
    outside the procedural editor's vocabulary when that is the editor that would run."""
    name, reason = planned_editor(kind, settings)
    if name == "ip2p" and find_weights(settings) is None:
        raise EditorUnavailable(missing_weights_message(settings))
    if name == "procedural":
        parse_prompt(prompt)
    return name, reason


def choose_editor(
    kind: str, settings: IP2PSettings = IP2PSettings(), device: torch.device | str = "cpu"
) -> tuple[Editor, str]:
    name, reason = planned_editor(kind, settings)
    if name == "procedural":
        return ProceduralEditor(), reason
    try:
        return InstructPix2PixEditor(settings, device), reason
    except EditorUnavailable:
        if kind == "ip2p":
            raise
        return ProceduralEditor(), f"procedural: auto fell back because the weights at {settings.model!r} did not load"
