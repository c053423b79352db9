"""The stored inputs an avatar is built from: four video-stage partitions, declared once.

An asset that builds the avatar's dataset takes them with ``ins={**AVATAR_DATA_INS, ...}`` and a ``**avatar_data:
Manifest`` parameter; adding an input to the avatar's data means adding it here and to ``AvatarInputs``."""

from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from cosavatar_pipeline.stages.avatar import AvatarInputs
from resources import Manifest

AVATAR_DATA_INS = {
    name: dg.AssetIn(key=name) for name in ("frames", "face_coefficients", "face_parsing", "background_plate")
}


def avatar_inputs(avatar_data: Mapping[str, Manifest]) -> AvatarInputs:
    """The manifests an asset received for ``AVATAR_DATA_INS`` -> where their files are, the clip's fps and preset."""
    frames = avatar_data["frames"]
    folders = {name: Path(avatar_data[name].directory) for name in AVATAR_DATA_INS}
    return AvatarInputs(**folders, fps=frames.info["fps"], preset=frames.info["preset"])


def avatar_data_version(avatar_data: Mapping[str, Manifest]) -> str:
    """One string that changes when any of the inputs is materialized again (a scratch checkpoint's key)."""
    return ":".join(avatar_data[name].data_version for name in AVATAR_DATA_INS)
