"""The driving step `avatar_reenactment` and `reenacted_render` share: an avatar driven by another registered video's
`driving_motion`, written as the mp4 set with its figures and MLflow run."""

import math
import os
from pathlib import Path

import dagster as dg
import numpy as np

from assets.reporting import ProgressLog, manifest_output, preview_metadata, user_errors_fail_the_step
from cosavatar_pipeline.errors import InputError
from cosavatar_pipeline.face.motion import DrivingMotion
from cosavatar_pipeline.nerf.trainer import load_trained, saved_config
from cosavatar_pipeline.preview import contact_sheet
from cosavatar_pipeline.render.outputs import SIDE_BY_SIDE_FILE, side_by_side, write_render_set
from cosavatar_pipeline.render.reenactment import DriveSettings, drive_avatar, reenactment_figures
from cosavatar_pipeline.stages.avatar import AvatarInputs
from cosavatar_pipeline.stages.face_coefficients import load_face_model
from cosavatar_pipeline.stages.frames import load_frames
from cosavatar_pipeline.stages.source_video import SOURCE_FILE
from resources import ComputeDevice, Manifest, MlflowTracking, StorageResource, mlflow_metadata


class ReenactmentSettings(dg.Config):
    """The driver: a registered video whose `driving_motion` is stored. Empty: ``COSAVATAR_DRIVER``, else the first
    other registered video (in name order) with stored driving motion."""

    driver: str = ""
    # keep the residual's expression codes inside the range the target's video covers (the avatar never saw more);
    # the landmark warp follows the driver unclipped
    clamp_to_target_range: bool = True
    clamp_margin: float = 0.1

    def drive_settings(self) -> DriveSettings:
        return DriveSettings(self.clamp_to_target_range, self.clamp_margin)


def choose_driver(requested: str, video: str, storage: StorageResource) -> str:
    registered = storage.registry.video_names()
    with_motion = [name for name in registered if storage.is_stored("driving_motion", name)]
    choice = requested or os.environ.get("COSAVATAR_DRIVER", "")
    if choice:
        if choice not in registered:
            raise InputError(f"driver {choice!r}", f"is not a registered video (registered: {registered})")
        if choice not in with_motion:
            raise InputError(f"driver {choice!r}", "has no driving_motion yet: materialize it first")
        return choice
    others = [name for name in with_motion if name != video]
    if not others:
        raise InputError(
            f"video {video!r}", "no other registered video has driving_motion to drive it; register a driver"
        )
    return others[0]


def write_reenactment(
    context,
    settings: ReenactmentSettings,
    avatar: Manifest,
    video: str,
    main_file: str,
    inputs: AvatarInputs,
    storage: StorageResource,
    tracking: MlflowTracking,
    device: ComputeDevice,
    params: dict,
) -> dg.Output[Manifest]:
    """Drive ``avatar`` (of ``video``) with the chosen driver; write the mp4 set, figures, MLflow run.
    inputs: where the video's frames, face model, parsing and background plate are stored."""
    with user_errors_fail_the_step():
        driver = choose_driver(settings.driver, video, storage)
    driver_motion = storage.manifest("driving_motion", driver)
    motion = DrivingMotion.load(Path(driver_motion.directory))
    driver_frames = load_frames(storage.manifest("frames", driver).directory)
    context.log.info(f"driver: video {driver!r} (driving_motion data version {driver_motion.data_version})")
    dataset = inputs.dataset(saved_config(Path(avatar.directory)))
    target = load_face_model(inputs.face_coefficients)
    model = load_trained(Path(avatar.directory), dataset, device.torch_device())
    reenactment = drive_avatar(
        model, dataset, motion, target, settings.drive_settings(), ProgressLog(context, "reenacted frames", 50)
    )
    context.log.info(
        f"{reenactment.figures['clamped_code_fraction']:.1%} of the residual's expression codes were clipped to the "
        "target's range"
    )
    context.log.info("re-detecting landmarks on the reenacted and the driver's frames ...")
    figures = {
        **reenactment_figures(reenactment, np.asarray(driver_frames), motion, target),
        "frame_count": float(len(reenactment.rgb)),
    }
    lineage = {"driver": driver, "driver_motion_data_version": driver_motion.data_version}
    with storage.write_partition(context) as writer, tracking.run(context) as run:
        files = write_render_set(
            writer.staging,
            main_file,
            reenactment.rgb,
            driver_frames,
            inputs.fps,
            storage.manifest("source_video", driver).path(SOURCE_FILE),
        )
        writer.record(files, preset=inputs.preset, fps=inputs.fps, **lineage, **figures)
        run.log_params({**params, **lineage})
        run.log_metrics({k: v for k, v in figures.items() if math.isfinite(v)})
        for name in files:
            run.log_artifact(writer.staging / name)
    sheet = contact_sheet(
        side_by_side(np.asarray(driver_frames[: len(reenactment.rgb)]), reenactment.rgb), count=4, columns=2, tile=320
    )
    return manifest_output(
        writer.manifest,
        {
            **lineage,
            **{name: round(value, 3) for name, value in figures.items()},
            "video": dg.MetadataValue.path(str(Path(writer.manifest.directory) / main_file)),
            "side_by_side": dg.MetadataValue.path(str(Path(writer.manifest.directory) / SIDE_BY_SIDE_FILE)),
            "preview": preview_metadata(sheet, "driver | reenacted"),
            **mlflow_metadata(run),
        },
    )
