"""The stored inputs an avatar is built from, gathered from the four video-stage manifests an asset receives."""

from pathlib import Path

from cosavatar_pipeline.stages.avatar import AvatarInputs
from resources import Manifest


def avatar_inputs(
    frames: Manifest, face_coefficients: Manifest, face_parsing: Manifest, background_plate: Manifest
) -> AvatarInputs:
    return AvatarInputs(
        frames=Path(frames.directory),
        face_coefficients=Path(face_coefficients.directory),
        face_parsing=Path(face_parsing.directory),
        background_plate=Path(background_plate.directory),
        fps=frames.info["fps"],
        preset=frames.info["preset"],
    )
