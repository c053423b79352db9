"""Renders users take away: `reconstruction_render` (video: the unedited avatar, for quality control before any
edit), `final_render` (edit, video: the last round's avatar over the source trajectory) and `reenacted_render`
(edit, video: the edited avatar driven by another video's motion), each an mp4 set with the figures that show
what the 3D representation buys."""

from pathlib import Path

import dagster as dg
import numpy as np

from assets.driving import ReenactmentSettings, write_reenactment
from assets.edit_graph import LAST_ROUND_AVATAR, edit_of
from assets.inputs import AVATAR_DATA_INS, avatar_inputs
from assets.partitions import edit_video_partitions, video_partitions
from assets.placement import GPU_POOL, GPU_STEP_TAGS
from assets.reporting import ProgressLog, manifest_output, preview_metadata, user_errors_fail_the_step
from cosavatar_pipeline.editing.composite import composite_into_source, psnr_outside_region
from cosavatar_pipeline.editing.dataset_update import RoundDataset
from cosavatar_pipeline.nerf.metrics import psnr
from cosavatar_pipeline.nerf.render import render_dataset_frames
from cosavatar_pipeline.nerf.trainer import load_trained, saved_config
from cosavatar_pipeline.parsing.labels import region_mask
from cosavatar_pipeline.parsing.mediapipe_parser import MediapipeParser
from cosavatar_pipeline.presets import edit_round_config
from cosavatar_pipeline.preview import contact_sheet, save_png
from cosavatar_pipeline.render.consistency import (
    consecutive_pairs,
    source_flow,
    warping_error,
)
from cosavatar_pipeline.render.delivery_video import deliver_video, delivery_sheet
from cosavatar_pipeline.render.outputs import (
    CONTACT_SHEET_FILE,
    SIDE_BY_SIDE_FILE,
    side_by_side,
    write_render_set,
)
from cosavatar_pipeline.stages.face_landmarks import load_landmarks
from cosavatar_pipeline.stages.face_parsing import load_labels
from cosavatar_pipeline.stages.frames import load_source_indices
from cosavatar_pipeline.stages.source_video import SOURCE_FILE
from cosavatar_pipeline.video.encode import write_mp4
from cosavatar_pipeline.video.native import native_frames
from resources import (
    ComputeDevice,
    Manifest,
    MlflowTracking,
    StorageResource,
    mlflow_metadata,
)

RECONSTRUCTION_FILE, FINAL_FILE, REENACTED_FILE = "reconstruction.mp4", "final.mp4", "reenacted.mp4"
RENDER_FILE = "render.mp4"  # final_render: the edited avatar as rendered, before compositing into the source
FINAL_CROP_FILE = "final_crop.mp4"  # final_render: the edit composited into the face-centred crop
MAX_WARPING_RATIO_CHECK = 1.0  # the final render must flicker less than the per-frame edits (IP2P; warn only)


def _render_avatar(context, avatar: Manifest, dataset, device) -> np.ndarray:
    """The avatar over the video's own trajectory: every frame, training frames with their appearance latents."""
    model = load_trained(Path(avatar.directory), dataset, device)
    frame_ids = np.arange(dataset.count)
    return render_dataset_frames(
        model, dataset, frame_ids, own_appearance=True, progress=ProgressLog(context, "rendered frames", 50)
    )["rgb"]


def _log_outputs(run, folder: Path, files: list[str]) -> None:
    for name in files:
        run.log_artifact(folder / name)


def _video_metadata(manifest: Manifest, main_file: str, figures: dict, sheet: np.ndarray, title: str, run) -> dict:
    return {
        **{name: round(value, 3) for name, value in figures.items()},
        "video": dg.MetadataValue.path(str(Path(manifest.directory) / main_file)),
        "side_by_side": dg.MetadataValue.path(str(Path(manifest.directory) / SIDE_BY_SIDE_FILE)),
        "preview": preview_metadata(sheet, title),
        **mlflow_metadata(run),
    }


@dg.asset(
    partitions_def=video_partitions,
    group_name="reconstruction",
    kinds={"pytorch", "video", "mlflow"},
    pool=GPU_POOL,
    op_tags=GPU_STEP_TAGS,
    io_manager_key="manifest_io_manager",
    ins=AVATAR_DATA_INS,
    description="The unedited avatar replayed over its own motion: reconstruction.mp4 and side_by_side.mp4 "
    "(source | avatar) with the source's audio, a contact sheet; PSNR against the source on all frames and on the "
    "held-out ones. For quality control before any edit.",
)
def reconstruction_render(
    context: dg.AssetExecutionContext,
    avatar: Manifest,
    source_video: Manifest,
    storage: StorageResource,
    tracking: MlflowTracking,
    device: ComputeDevice,
    **avatar_data: Manifest,
) -> dg.Output[Manifest]:
    inputs = avatar_inputs(avatar_data)
    dataset = inputs.dataset(saved_config(Path(avatar.directory)))
    rendered = _render_avatar(context, avatar, dataset, device.torch_device())
    figures = {
        "psnr_vs_source": float(np.mean([psnr(r, s) for r, s in zip(rendered, dataset.frames)])),
        "psnr_vs_source_holdout": float(np.mean([psnr(rendered[i], dataset.frames[i]) for i in dataset.holdout])),
        "frame_count": float(len(rendered)),
    }
    with storage.write_partition(context) as writer, tracking.run(context) as run:
        files = write_render_set(
            writer.staging,
            RECONSTRUCTION_FILE,
            rendered,
            dataset.frames,
            inputs.fps,
            source_video.path(SOURCE_FILE),
        )
        writer.record(files, preset=inputs.preset, fps=inputs.fps, **figures)
        run.log_metrics(figures)
        _log_outputs(run, writer.staging, files)
    sheet = contact_sheet(side_by_side(dataset.frames, rendered), count=4, columns=2, tile=320)
    return manifest_output(
        writer.manifest, _video_metadata(writer.manifest, RECONSTRUCTION_FILE, figures, sheet, "source | avatar", run)
    )


@dg.asset(
    partitions_def=edit_video_partitions,
    group_name="renders",
    kinds={"pytorch", "video", "mlflow"},
    pool=GPU_POOL,
    op_tags=GPU_STEP_TAGS,
    io_manager_key="manifest_io_manager",
    ins={
        **AVATAR_DATA_INS,
        "edited_avatar": dg.AssetIn(key=LAST_ROUND_AVATAR),
        "first_round": dg.AssetIn(key="edited_dataset_round_1"),
    },
    description=f"`{LAST_ROUND_AVATAR}` rendered over the source trajectory and delivered in the user's own video: "
    "final.mp4 is the source at its own size and frame (rotation applied), on the pipeline's constant frame rate, "
    "with its audio; outside the edit's region it is the source's pixels. Inside, the edit's change is upsampled "
    "and added to the native frame, keeping the source's own detail where the edit kept its structure; the "
    "region's edge is matted against the native frame (a guided filter, and on mixed edge pixels the share read "
    "off the local hair-backdrop colour line). final_crop.mp4: the same edit in the "
    "face-centred crop (the render inside the region, the source elsewhere); render.mp4: the render as it is; "
    "side_by_side.mp4 (source | final, at most 1920 px wide); a contact sheet with a 4x crop of the region's edge. "
    "Figures: the native delivery's detail ratio and colour difference to the crop composite; temporal warping "
    "error (the SOURCE video's optical flow, DIS, forward-backward occlusion check) inside the edit's region of "
    "the round-1 raw per-frame edits, of the crop composite and of the render, their ratio (< 1: the 3D avatar is "
    "steadier than editing frames one by one); PSNR against the source outside the region.",
)
def final_render(
    context: dg.AssetExecutionContext,
    edited_avatar: Manifest,
    first_round: Manifest,
    source_video: Manifest,
    face_landmarks: Manifest,
    storage: StorageResource,
    tracking: MlflowTracking,
    device: ComputeDevice,
    **avatar_data: Manifest,
) -> dg.Output[Manifest]:
    spec, _ = edit_of(context, storage)
    inputs = avatar_inputs(avatar_data)
    dataset = inputs.dataset(saved_config(Path(edited_avatar.directory)))
    rendered = _render_avatar(context, edited_avatar, dataset, device.torch_device())
    source, labels = dataset.frames, np.asarray(load_labels(inputs.face_parsing))
    render_labels = np.stack(list(MediapipeParser().parse(rendered, load_landmarks(face_landmarks.directory))))
    composite = composite_into_source(
        rendered, source, labels, render_labels, spec.region, edit_round_config(inputs.preset)
    )
    figures = _crop_figures(context, rendered, composite.frames, source, region_mask(labels, spec.region), first_round)
    audio = source_video.path(SOURCE_FILE)
    with user_errors_fail_the_step(), storage.write_partition(context) as writer, tracking.run(context) as run:
        delivery = deliver_video(
            native_frames(audio, load_source_indices(inputs.frames), source_video.info["original_path"]),
            source,
            rendered,
            composite.frames,
            composite.regions,
            avatar_data["frames"].info["crop"],
            inputs.fps,
            writer.staging / FINAL_FILE,
            writer.staging / SIDE_BY_SIDE_FILE,
            audio_from=audio,
            progress=ProgressLog(context, "delivered native frames", 50),
        )
        figures.update(delivery.figures)
        write_mp4(writer.staging / FINAL_CROP_FILE, composite.frames, inputs.fps, audio_from=audio)
        write_mp4(writer.staging / RENDER_FILE, rendered, inputs.fps)
        sheet = delivery_sheet(delivery)
        save_png(writer.staging / CONTACT_SHEET_FILE, sheet)
        files = [FINAL_FILE, SIDE_BY_SIDE_FILE, FINAL_CROP_FILE, RENDER_FILE, CONTACT_SHEET_FILE]
        writer.record(files, preset=inputs.preset, fps=inputs.fps, editor=first_round.info["editor"], **figures)
        run.log_params(
            {
                "prompt": spec.prompt,
                "region": spec.region,
                "editor": first_round.info["editor"],
                "avatar": LAST_ROUND_AVATAR,
                "delivered_size": f"{delivery.width}x{delivery.height}",
            }
        )
        run.log_metrics(figures)
        _log_outputs(run, writer.staging, files)
    context.log.info(f"final.mp4: {delivery.width}x{delivery.height}, {delivery.frame_count} frames")
    return manifest_output(
        writer.manifest,
        {
            "editor": first_round.info["editor"],
            "delivered_size": f"{delivery.width}x{delivery.height}",
            "crop_video": dg.MetadataValue.path(str(Path(writer.manifest.directory) / FINAL_CROP_FILE)),
            **_video_metadata(writer.manifest, FINAL_FILE, figures, sheet, "source | edited; edge at 4x", run),
        },
    )


def _crop_figures(context, rendered, crop_composite, source, region, first_round: Manifest) -> dict[str, float]:
    """Steadiness and leakage in the crop: the warping errors (the source's flow, inside the region) of the round-1
    raw per-frame edits, the crop composite, the render and the source; PSNR outside the region."""
    context.log.info("optical flow of the source video ...")
    flow = source_flow(source)
    raw = RoundDataset.load(Path(first_round.directory))
    ids = np.asarray(raw.frame_ids)
    raw_edits = np.zeros_like(source)
    raw_edits[ids] = raw.raw_edits
    pairs = consecutive_pairs(ids)
    raw_error = warping_error(raw_edits, flow, pairs, region)
    final_error = warping_error(crop_composite, flow, pairs, region)
    return {
        "warping_error_raw_edits": raw_error,
        "warping_error_final": final_error,
        "warping_error_ratio": final_error / max(raw_error, 1e-9),
        "warping_error_render": warping_error(rendered, flow, pairs, region),
        "warping_error_source": warping_error(source, flow, pairs, region),
        "psnr_outside_region_vs_source": psnr_outside_region(crop_composite, source, region),
        "psnr_outside_region_render_vs_source": psnr_outside_region(rendered, source, region),
        "flow_valid_fraction": flow.valid_fraction,
        "frame_count": float(len(rendered)),
    }


@dg.asset_check(
    asset=final_render,
    partitions_def=edit_video_partitions,
    description="The final render flickers less than the round-1 per-frame edits (warping-error ratio < 1) inside "
    "the edit's region. A warning: a deterministic procedural recolouring can be as steady as the render.",
)
def final_render_steadier_than_per_frame_edits(final_render: Manifest) -> dg.AssetCheckResult:
    ratio = final_render.info["warping_error_ratio"]
    return dg.AssetCheckResult(
        passed=bool(ratio < MAX_WARPING_RATIO_CHECK),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"warping_error_ratio": ratio, "editor": final_render.info["editor"]},
    )


@dg.asset(
    partitions_def=edit_video_partitions,
    group_name="renders",
    kinds={"pytorch", "video", "mlflow"},
    pool=GPU_POOL,
    op_tags=GPU_STEP_TAGS,
    io_manager_key="manifest_io_manager",
    ins={**AVATAR_DATA_INS, "edited_avatar": dg.AssetIn(key=LAST_ROUND_AVATAR)},
    # The driver is another video, chosen at run time: every `driving_motion` partition is a possible input.
    deps=[dg.AssetDep("driving_motion", partition_mapping=dg.AllPartitionMapping())],
    description=f"`{LAST_ROUND_AVATAR}` driven by another registered video's `driving_motion` (run config "
    "`driver`; default COSAVATAR_DRIVER, else the first other video): the driver's change from its neutral, scaled "
    "to this face, warps the avatar's face and is projected on this video's basis for the residual; head pose "
    "relative to each clip's mean pose. reenacted.mp4 and side_by_side.mp4 (driver | reenacted, the driver's "
    "audio). Figures as `avatar_reenactment`: mouth and eyes following the driver (r, gain), identity drift.",
)
def reenacted_render(
    context: dg.AssetExecutionContext,
    config: ReenactmentSettings,
    edited_avatar: Manifest,
    storage: StorageResource,
    tracking: MlflowTracking,
    device: ComputeDevice,
    **avatar_data: Manifest,
) -> dg.Output[Manifest]:
    spec, video = edit_of(context, storage)
    inputs = avatar_inputs(avatar_data)
    return write_reenactment(
        context,
        config,
        edited_avatar,
        video,
        REENACTED_FILE,
        inputs,
        storage,
        tracking,
        device,
        {"prompt": spec.prompt, "avatar": LAST_ROUND_AVATAR},
    )
