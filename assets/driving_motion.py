"""`driving_motion`: what this video gives to drive another avatar (expression displacements, relative pose)."""

import dagster as dg
import numpy as np

from assets.partitions import video_partitions
from assets.reporting import manifest_output
from cosavatar_pipeline.face.geometry import rotation_angle_deg
from cosavatar_pipeline.face.motion import DrivingMotion
from cosavatar_pipeline.stages.face_coefficients import load_face_model
from resources import Manifest, StorageResource


@dg.asset(
    partitions_def=video_partitions,
    group_name="face",
    kinds={"numpy"},
    io_manager_key="manifest_io_manager",
    description="Per frame: canonical, scale-normalised expression displacements from the neutral shape and head "
    "pose relative to the clip's mean pose; `retarget` maps them onto another video's face model.",
)
def driving_motion(
    context: dg.AssetExecutionContext, face_coefficients: Manifest, storage: StorageResource
) -> dg.Output[Manifest]:
    motion = DrivingMotion.from_face_model(load_face_model(face_coefficients.directory))
    angles = rotation_angle_deg(np.eye(3)[None], motion.relative_rotation)
    figures = {
        "frame_count": len(motion.displacements),
        "relative_rotation_deg_mean": float(angles.mean()),
        "relative_rotation_deg_max": float(angles.max()),
        "relative_translation_mm_max": float(np.linalg.norm(motion.relative_translation, axis=1).max()),
        "displacement_mm_rms": float(np.sqrt((motion.displacements**2).sum(-1).mean())),
    }
    with storage.write_partition(context) as writer:
        writer.record([motion.save(writer.staging)], **figures)
    return manifest_output(writer.manifest, {k: round(v, 4) for k, v in figures.items()})
