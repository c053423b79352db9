"""`edited_dataset_round_{k}` and `edited_avatar_round_{k}`, k = 1..K: the iterative dataset update, one asset
per step so a user sees and audits every round. Partitioned by (edit, video); they read the video's stages as
they are, so adding an edit never recomputes a reconstruction. An edit that runs fewer rounds than K
(``EditSpec.rounds``) passes its last avatar on through the rounds after it, so the final render reads it."""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import dagster as dg
import numpy as np
import torch

from assets.edit_graph import avatar_asset_name, dataset_asset_name, edit_of
from assets.inputs import AVATAR_DATA_INS, avatar_inputs
from assets.partitions import edit_video_partitions
from assets.placement import GPU_POOL, GPU_STEP_TAGS
from assets.reporting import ProgressLog, manifest_output, preview_metadata, user_errors_fail_the_step
from assets.training import stage_checkpoint, train_with_logs, training_figures
from cosavatar_pipeline.editing.choice import check_editor_can_run, choose_editor
from cosavatar_pipeline.editing.config import EDIT_ROUNDS, EditRoundConfig
from cosavatar_pipeline.editing.dataset_update import NativeOriginals, RoundDataset, contact_rows, update_dataset
from cosavatar_pipeline.editing.finetune import (
    RoundEvaluation,
    edited_training_data,
    evaluate_round,
    finetune_config,
)
from cosavatar_pipeline.editing.regions import check_region_present
from cosavatar_pipeline.errors import InputError
from cosavatar_pipeline.nerf.config import NerfConfig
from cosavatar_pipeline.nerf.dataset import AvatarDataset
from cosavatar_pipeline.nerf.model import AvatarModel
from cosavatar_pipeline.nerf.render import render_dataset_frames
from cosavatar_pipeline.nerf.trainer import load_trained, saved_config
from cosavatar_pipeline.parsing.labels import region_mask
from cosavatar_pipeline.parsing.mediapipe_parser import MediapipeParser
from cosavatar_pipeline.presets import edit_round_config
from cosavatar_pipeline.preview import evenly_spaced, save_png
from cosavatar_pipeline.registry import EditSpec
from cosavatar_pipeline.render.outputs import CONTACT_SHEET_FILE
from cosavatar_pipeline.stages.avatar import AvatarInputs
from cosavatar_pipeline.stages.face_landmarks import load_landmarks
from cosavatar_pipeline.stages.face_parsing import load_labels
from cosavatar_pipeline.stages.frames import load_frames, load_source_indices
from cosavatar_pipeline.stages.source_video import SOURCE_FILE
from cosavatar_pipeline.video.decode import VideoFrames
from resources import ComputeDevice, EditorResource, Manifest, MlflowTracking, StorageResource, mlflow_metadata

# Asset-check bounds, in 0-255 levels, mean absolute change. The targets are checked beyond the blend's feathered
# band (inside it a style edit legitimately fades into the background); the avatar's leakage everywhere outside.
MAX_TARGET_CHANGE_BEYOND_FEATHER = 0.5
MAX_LEAKAGE_OUTSIDE = 3.0  # fine-tuned avatar vs the avatar before the round


class EditRoundSettings(dg.Config):
    """Overrides of the preset's editing settings (``presets.PRESETS``); unset fields keep the preset's values."""

    feather_fraction: Optional[float] = None
    growth_fraction: Optional[float] = None
    finetune_steps: Optional[int] = None
    rays_per_step: Optional[int] = None
    checkpoint_every: Optional[int] = None
    evaluation_frames: Optional[int] = None

    def round_config(self, preset: str) -> EditRoundConfig:
        return edit_round_config(preset, **self.model_dump())


def check_edit_can_run(spec: EditSpec, video: str, label_maps: np.ndarray, editor: EditorResource) -> tuple[str, str]:
    """Everything that would make the round fail, checked before any rendering or editing."""
    check_region_present(label_maps, spec.region, f"video {video!r}")
    try:
        return check_editor_can_run(spec.editor, spec.prompt, editor.settings(spec.ip2p_settings))
    except InputError as exc:
        raise InputError(f"edit {spec.name!r}", str(exc)) from None


def round_params(
    spec: EditSpec, round_index: int, config: EditRoundConfig, editor_name: str, reason: str, ip2p: dict | None
) -> dict:
    """What an MLflow run of a round records: the edit, the editor that ran and why, its settings."""
    params = {
        "prompt": spec.prompt,
        "region": spec.region,
        "region_inferred": spec.region_inferred,
        "edit_seed": spec.seed,
        "editor_requested": spec.editor,
        "editor": editor_name,
        "editor_reason": reason,
        "round": round_index,
        **config.as_dict(),
    }
    if editor_name == "ip2p" and ip2p:
        params.update({f"ip2p_{k}": v for k, v in ip2p.items()})
    return params


def ip2p_settings_used(image_editor, spec: EditSpec) -> dict | None:
    """The InstructPix2Pix settings a round ran with (None for another editor), for its manifest and MLflow run."""
    if image_editor.name != "ip2p":
        return None
    return {
        **image_editor.settings.as_dict(),
        "batch_size": image_editor.batch_size,
        "settings_preset": spec.ip2p_settings,
    }


def beyond_the_edit(context: dg.AssetExecutionContext, storage: StorageResource, k: int, spec: EditSpec):
    """A dataset round past the edit's own rounds: nothing is rendered or edited; its manifest says so."""
    context.log.info(f"edit {spec.name!r} runs {spec.rounds} round(s): round {k} edits nothing")
    with storage.write_partition(context) as writer:
        writer.record([], round=k, skipped=True, edit_rounds=spec.rounds)
    return manifest_output(writer.manifest, {"skipped": f"the edit runs {spec.rounds} of {EDIT_ROUNDS} rounds"})


def pass_avatar_on(
    context: dg.AssetExecutionContext, storage: StorageResource, k: int, spec: EditSpec, previous_avatar: Manifest
):
    """An avatar round past the edit's own rounds: the previous round's avatar, its files hard-linked (copied across
    filesystems) and its figures kept, so the final render reads the edit's last fine-tuned avatar."""
    previous = avatar_asset_name(k - 1)
    context.log.info(f"edit {spec.name!r} runs {spec.rounds} round(s): round {k} passes {previous} on")
    with storage.write_partition(context) as writer:
        for name in previous_avatar.files:
            try:
                os.link(previous_avatar.path(name), writer.staging / name)
            except OSError:
                shutil.copy2(previous_avatar.path(name), writer.staging / name)
        writer.record(list(previous_avatar.files), **{**previous_avatar.info, "round": k, "passed_on_from": previous})
    return manifest_output(
        writer.manifest,
        {"passed on": f"{previous} (the edit runs {spec.rounds} of {EDIT_ROUNDS} rounds)", "round": k},
    )


def native_originals(source_video: Manifest, frames: Manifest) -> NativeOriginals:
    """The video's frames at the source's own resolution, decoded when the editor asks for them."""
    video = VideoFrames(source_video.path(SOURCE_FILE), label=source_video.info["original_path"])
    source_indices = load_source_indices(Path(frames.directory))
    return NativeOriginals(lambda ids: video.get(source_indices[ids]), frames.info["crop"])


@dataclass
class EditedFrames:
    """One round's dataset update: the training frames it edited, with which editor and why, and its figures."""

    dataset: RoundDataset
    originals: np.ndarray  # (T, S, S, 3) uint8: the training frames as the video shows them
    editor_name: str
    reason: str
    ip2p: dict | None  # the InstructPix2Pix settings it ran with; None for another editor
    figures: dict[str, float]


def edit_training_frames(
    context: dg.AssetExecutionContext,
    k: int,
    spec: EditSpec,
    round_config: EditRoundConfig,
    previous_avatar: Manifest,
    inputs: AvatarInputs,
    face_landmarks: Manifest,
    device: ComputeDevice,
    editor: EditorResource,
    native: NativeOriginals,
) -> EditedFrames:
    """Round k's dataset update: the previous round's avatar rendered at every training frame, each render edited
    and blended into its original frame."""
    torch_device = device.torch_device()
    dataset = inputs.dataset(saved_config(Path(previous_avatar.directory)))
    model = load_trained(Path(previous_avatar.directory), dataset, torch_device)
    with user_errors_fail_the_step():
        image_editor, reason = choose_editor(spec.editor, editor.settings(spec.ip2p_settings), torch_device)
    context.log.info(f"edit {spec.name!r} ({spec.prompt!r}, region {spec.region}): {reason}")
    train = dataset.train
    rendered = ProgressLog(context, f"rendered {avatar_asset_name(k - 1)}", 25)
    renders = render_dataset_frames(model, dataset, train, own_appearance=True, progress=rendered)["rgb"]
    originals = dataset.frames[train]
    original_labels = np.asarray(load_labels(inputs.face_parsing))[train]
    with user_errors_fail_the_step(), device.peak_memory() as memory:
        round_dataset = update_dataset(
            renders,
            originals,
            original_labels,
            load_landmarks(face_landmarks.directory)[train],
            train,
            image_editor,
            MediapipeParser(),
            spec.prompt,
            spec.region,
            spec.seed,
            k,
            round_config,
            progress=ProgressLog(context, "edited frames", 25),
            native=native,
        )
    figures = round_dataset.figures(
        originals, region_mask(original_labels, spec.region), round_config.feather_px(dataset.size)
    )
    figures.update(memory)
    if round_dataset.noise_levels:
        figures.update(noise_level_mean=float(np.mean(round_dataset.noise_levels)))
    ip2p = ip2p_settings_used(image_editor, spec)
    return EditedFrames(round_dataset, originals, image_editor.name, reason, ip2p, figures)


def build_dataset_round(k: int) -> dg.AssetsDefinition:
    previous = avatar_asset_name(k - 1)

    @dg.asset(
        name=dataset_asset_name(k),
        partitions_def=edit_video_partitions,
        group_name="editing",
        kinds={"pytorch", "mlflow"},
        pool=GPU_POOL,
        op_tags=GPU_STEP_TAGS,
        io_manager_key="manifest_io_manager",
        ins={**AVATAR_DATA_INS, "previous_avatar": dg.AssetIn(key=previous)},
        description=f"Round {k} of the dataset update: `{previous}` rendered at every training frame, each render "
        "edited by the edit's editor (conditioned on the original frame and the prompt), and blended into the "
        "original frame with a feathered mask of the edit's region (original parsing ∪ the edited image's parsing, "
        "grown a bounded distance). Stores renders, raw edits, masks and targets; contact sheet "
        "original | raw edit | blended.",
    )
    def edited_dataset(
        context: dg.AssetExecutionContext,
        config: EditRoundSettings,
        previous_avatar: Manifest,
        face_landmarks: Manifest,
        source_video: Manifest,
        storage: StorageResource,
        tracking: MlflowTracking,
        device: ComputeDevice,
        editor: EditorResource,
        **avatar_data: Manifest,
    ) -> dg.Output[Manifest]:
        spec, video = edit_of(context, storage)
        if k > spec.rounds:
            return beyond_the_edit(context, storage, k, spec)
        inputs = avatar_inputs(avatar_data)
        preset = inputs.preset
        round_config = config.round_config(preset)
        with user_errors_fail_the_step():
            check_edit_can_run(spec, video, load_labels(inputs.face_parsing), editor)
        edited = edit_training_frames(
            context,
            k,
            spec,
            round_config,
            previous_avatar,
            inputs,
            face_landmarks,
            device,
            editor,
            native_originals(source_video, avatar_data["frames"]),
        )
        sheet = contact_rows(edited.originals, edited.dataset)
        with storage.write_partition(context) as writer, tracking.run(context) as run:
            files = edited.dataset.save(writer.staging)
            save_png(writer.staging / CONTACT_SHEET_FILE, sheet)
            writer.record(
                files + [CONTACT_SHEET_FILE],
                preset=preset,
                editor=edited.editor_name,
                editor_reason=edited.reason,
                round=k,
                noise_levels=edited.dataset.noise_levels,
                ip2p=edited.ip2p,
                **edited.figures,
            )
            run.log_params(round_params(spec, k, round_config, edited.editor_name, edited.reason, edited.ip2p))
            run.log_metrics(edited.figures)
            run.log_image(sheet, "original_raw_edit_blended.png")
        return manifest_output(
            writer.manifest,
            {
                "editor": edited.editor_name,
                "editor_reason": edited.reason,
                "prompt": spec.prompt,
                "region": spec.region,
                **{name: round(value, 3) for name, value in edited.figures.items()},
                "contact sheet (original | raw edit | blended)": preview_metadata(sheet, f"round {k}"),
                **mlflow_metadata(run),
            },
        )

    return edited_dataset, targets_check(edited_dataset)


@dataclass
class FinetuneData:
    """What round k fine-tunes on: the video's data with the round's blended targets in place of the edited
    frames, and the avatar it starts from."""

    round_dataset: RoundDataset
    ids: np.ndarray  # (T,) the edited training frames' ids
    originals: np.ndarray  # (N, S, S, 3) uint8: the video's frames
    dataset: AvatarDataset
    nerf_config: NerfConfig
    initial_state: dict[str, torch.Tensor]


def finetune_data(
    round_config: EditRoundConfig, previous_avatar: Manifest, edited_dataset: Manifest, inputs: AvatarInputs
) -> FinetuneData:
    avatar_config = saved_config(Path(previous_avatar.directory))
    round_dataset = RoundDataset.load(Path(edited_dataset.directory))
    ids = np.asarray(round_dataset.frame_ids)
    originals = load_frames(inputs.frames, mmap=False)
    training_frames, training_labels = edited_training_data(
        originals, load_labels(inputs.face_parsing), ids, round_dataset.targets, round_dataset.label_maps
    )
    dataset = inputs.dataset(avatar_config, training_frames, training_labels)
    initial_state = load_trained(Path(previous_avatar.directory), dataset).state_dict()
    config = finetune_config(avatar_config, round_config)
    return FinetuneData(round_dataset, ids, originals, dataset, config, initial_state)


def evaluate_finetuned(model: AvatarModel, data: FinetuneData, frame_count: int) -> RoundEvaluation:
    """The fine-tuned avatar on ``frame_count`` evenly spaced edited frames: against their targets, the renders
    before the round and the original frames."""
    picks = evenly_spaced(len(data.ids), frame_count)
    renders = render_dataset_frames(model, data.dataset, data.ids[picks], own_appearance=True)["rgb"]
    rounds = data.round_dataset
    return evaluate_round(
        renders, rounds.renders[picks], rounds.targets[picks], data.originals[data.ids[picks]], rounds.regions[picks]
    )


def build_avatar_round(k: int) -> dg.AssetsDefinition:
    previous = avatar_asset_name(k - 1)

    @dg.asset(
        name=avatar_asset_name(k),
        partitions_def=edit_video_partitions,
        group_name="editing",
        kinds={"pytorch", "mlflow"},
        pool=GPU_POOL,
        op_tags=GPU_STEP_TAGS,
        io_manager_key="manifest_io_manager",
        ins={
            **AVATAR_DATA_INS,
            "previous_avatar": dg.AssetIn(key=previous),
            "edited_dataset": dg.AssetIn(key=dataset_asset_name(k)),
        },
        description=f"`{previous}` fine-tuned on round {k}'s blended targets (same architecture, its occupancy grid "
        "and appearance latents carried over). Checkpoints every N steps; an interrupted run resumes. Figures: PSNR "
        "against the targets, change inside vs outside the region, leakage vs the avatar before the round.",
    )
    def edited_avatar(
        context: dg.AssetExecutionContext,
        config: EditRoundSettings,
        previous_avatar: Manifest,
        edited_dataset: Manifest,
        storage: StorageResource,
        tracking: MlflowTracking,
        device: ComputeDevice,
        **avatar_data: Manifest,
    ) -> dg.Output[Manifest]:
        spec, _ = edit_of(context, storage)
        if k > spec.rounds:
            return pass_avatar_on(context, storage, k, spec, previous_avatar)
        inputs = avatar_inputs(avatar_data)
        round_config = config.round_config(inputs.preset)
        data = finetune_data(round_config, previous_avatar, edited_dataset, inputs)
        torch_device = device.torch_device()
        scratch = storage.checkpoint_folder(
            context, inputs_version=f"{previous_avatar.data_version}:{edited_dataset.data_version}"
        )
        with storage.write_partition(context) as writer, tracking.run(context) as run:
            info = edited_dataset.info
            params = round_params(spec, k, round_config, info["editor"], info["editor_reason"], info.get("ip2p"))
            run.log_params({**params, "device": str(torch_device), "train_frames": len(data.ids)})
            training = train_with_logs(
                context,
                f"round {k}",
                data.dataset,
                data.nerf_config,
                scratch,
                torch_device,
                run,
                data.nerf_config.log_every * 4,
                initial_state=data.initial_state,
            )
            evaluation = evaluate_finetuned(training.model, data, round_config.evaluation_frames)
            files = stage_checkpoint(scratch, writer.staging)
            figures = {**evaluation.figures, **training_figures(training)}
            writer.record(files, preset=inputs.preset, editor=edited_dataset.info["editor"], round=k, **figures)
            run.log_metrics(figures)
            run.log_image(evaluation.preview, "original_target_render.png")
        shutil.rmtree(scratch, ignore_errors=True)
        return manifest_output(
            writer.manifest,
            {
                "editor": edited_dataset.info["editor"],
                **{name: round(value, 3) for name, value in figures.items()},
                "preview (original | target | fine-tuned render)": preview_metadata(evaluation.preview, f"round {k}"),
                **mlflow_metadata(run),
            },
        )

    return edited_avatar, leakage_check(edited_avatar)


def targets_check(edited_dataset_asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    return bounded_figure_check(
        edited_dataset_asset,
        "targets_stay_in_region",
        f"Beyond the feathered band around the edit's region, the blended targets change the frame by under "
        f"{MAX_TARGET_CHANGE_BEYOND_FEATHER} levels (mean absolute, 0-255).",
        ("target_change_beyond_feather", MAX_TARGET_CHANGE_BEYOND_FEATHER),
        ("target_change_outside", "target_change_inside"),
    )


def leakage_check(edited_avatar_asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    return bounded_figure_check(
        edited_avatar_asset,
        "avatar_edit_stays_in_region",
        "Fine-tuning changed the avatar's renders outside the edit's region by under "
        f"{MAX_LEAKAGE_OUTSIDE} levels more than the avatar before the round differed from the source there (leakage).",
        ("leakage_outside", MAX_LEAKAGE_OUTSIDE),
        ("render_change_outside", "psnr_vs_targets"),
    )


def bounded_figure_check(
    asset: dg.AssetsDefinition, name: str, description: str, bounded: tuple[str, float], also_shown: tuple[str, ...]
) -> dg.AssetChecksDefinition:
    """A check that one figure of the asset's manifest stays under its limit; a round the edit skips passes."""
    figure, limit = bounded

    @dg.asset_check(asset=asset, name=name, partitions_def=edit_video_partitions, description=description)
    def check(manifest: Manifest) -> dg.AssetCheckResult:
        if manifest.info.get("skipped"):
            return dg.AssetCheckResult(passed=True, metadata={"skipped": "the edit runs fewer rounds"})
        return dg.AssetCheckResult(
            passed=bool(manifest.info[figure] < limit),
            metadata={shown: manifest.info[shown] for shown in (figure, *also_shown)},
        )

    return check


def build_edit_rounds(count: int) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    assets, checks = [], []
    for k in range(1, count + 1):
        for build in (build_dataset_round, build_avatar_round):
            asset, check = build(k)
            assets.append(asset)
            checks.append(check)
    return assets, checks


EDIT_ROUND_ASSETS, EDIT_ROUND_CHECKS = build_edit_rounds(EDIT_ROUNDS)
