"""`cosavatar`: register videos and edits, materialize stages, show status, run the demo."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from cosavatar_pipeline.editing.config import DEFAULT_IP2P_SETTINGS, EDIT_ROUNDS, IP2P_SETTING_PRESETS
from cosavatar_pipeline.errors import CosavatarError, InputError
from cosavatar_pipeline.presets import DEFAULT_PRESET, PRESETS
from cosavatar_pipeline.slugs import edit_video_key

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help=__doc__)

SAMPLE_EDIT_PROMPT, SAMPLE_EDIT_NAME = "give her pink hair", "pink_hair"
# A reenactment driver only lends its motion: no parsing or avatar of its own.
DRIVER_STAGES = ["source_video", "frames", "face_landmarks", "face_coefficients", "driving_motion"]


def _pipeline():
    from cosavatar_pipeline.orchestration.operations import Pipeline

    return Pipeline()


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


@app.command("add-video")
def add_video(
    path: Path = typer.Argument(..., help="video file (mp4, mov, ...)"),
    name: Optional[str] = typer.Option(None, help="partition key (slug); default: from the file name"),
    preset: Optional[str] = typer.Option(
        None, help=f"quality preset: {', '.join(PRESETS)}; default: $COSAVATAR_PRESET, else {DEFAULT_PRESET}"
    ),
) -> None:
    """Check a video (decodes, >= 1 s, >= 128 px, one face) and register it as a `video` partition."""
    try:
        entry = _pipeline().add_video(path, name=name, preset=preset)
    except CosavatarError as exc:
        _fail(exc)
    typer.echo(f"registered video {entry.name!r} ({entry.path}, preset {entry.preset})")


@app.command("add-edit")
def add_edit(
    prompt: str = typer.Argument(..., help='the instruction, e.g. "give her pink hair"'),
    region: Optional[str] = typer.Option(
        None, help="hair, face, lips, eyes, clothes, background, person, all; default: from the prompt"
    ),
    name: Optional[str] = typer.Option(None, help="partition key (slug); default: from the prompt"),
    editor: str = typer.Option("auto", help="auto, ip2p or procedural"),
    seed: int = typer.Option(0),
    ip2p_settings: str = typer.Option(
        DEFAULT_IP2P_SETTINGS, help=f"InstructPix2Pix settings: {', '.join(sorted(IP2P_SETTING_PRESETS))} (see README)"
    ),
    rounds: int = typer.Option(
        EDIT_ROUNDS, help=f"dataset-update + fine-tune rounds, 1 to {EDIT_ROUNDS}; later rounds pass the avatar on"
    ),
) -> None:
    """Register an edit spec as an `edit` partition."""
    try:
        spec = _pipeline().add_edit(
            prompt, name=name, region=region, editor=editor, seed=seed, ip2p_settings=ip2p_settings, rounds=rounds
        )
    except CosavatarError as exc:
        _fail(exc)
    how = "inferred from the prompt" if spec.region_inferred else "given"
    typer.echo(
        f"registered edit {spec.name!r}: {spec.prompt!r}, region {spec.region} ({how}), editor {spec.editor}, "
        f"{spec.rounds} round(s)"
    )


@app.command()
def materialize(
    video: Optional[list[str]] = typer.Option(None, help="video partition(s); default: all registered"),
    edit: Optional[list[str]] = typer.Option(None, help="edit partition(s) to apply to the videos (edit-stage assets)"),
    select: Optional[str] = typer.Option(None, help="comma-separated asset names; default: every stage"),
    config: Optional[Path] = typer.Option(
        None, help="YAML file: asset name (or a glob such as 'edited_avatar_round_*') -> its run config"
    ),
) -> None:
    """Materialize stages, recorded in the Dagster instance (visible in the web UI).

    Without --edit: the video stages of each video. With --edit: each edit's rounds on each video (a backfill of
    the edit); a video's missing stages are materialized first, stored ones are reused as they are."""
    pipeline = _pipeline()
    try:
        asset_config = _read_asset_config(config, pipeline.video_asset_names() + pipeline.edit_asset_names())
    except CosavatarError as exc:
        _fail(exc)
    videos = video or pipeline.registry.video_names()
    if not videos:
        _fail(CosavatarError("no videos registered: run `cosavatar add-video PATH` first"))
    selected = [name.strip() for name in select.split(",")] if select else None
    failed = False
    try:
        for name in videos:
            if edit:
                missing = [a for a in pipeline.edit_prerequisites() if name not in pipeline.materialized(a)]
                if missing:
                    typer.echo(f"video {name!r} lacks {', '.join(missing)}: materializing them first ...")
                    failed |= not _report(
                        pipeline.materialize_video(name, select=missing, asset_config=_for(asset_config, missing))
                    )
                for edit_name in edit:
                    typer.echo(f"applying edit {edit_name!r} to video {name!r} ...")
                    ok = _report(
                        pipeline.materialize_edit(
                            edit_name,
                            name,
                            select=selected,
                            asset_config=_for(asset_config, selected or pipeline.edit_asset_names()),
                        )
                    )
                    failed |= not ok
                    if ok:
                        _print_edit_figures(pipeline, edit_name, name)
            else:
                typer.echo(f"materializing video {name!r} ...")
                failed |= not _report(
                    pipeline.materialize_video(
                        name, select=selected, asset_config=_for(asset_config, selected or pipeline.video_asset_names())
                    )
                )
    except CosavatarError as exc:
        _fail(exc)
    if failed:
        raise typer.Exit(code=1)


def _read_asset_config(path: Path | None, assets: list[str]) -> dict[str, dict]:
    """{asset name: run config} from a YAML mapping whose keys are asset names or globs over them."""
    import fnmatch

    import yaml

    if path is None:
        return {}
    try:
        entries = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(path, f"is not a readable YAML file ({exc})") from None
    if not isinstance(entries, dict) or not all(isinstance(v, dict) for v in entries.values()):
        raise InputError(
            path, "must map asset names (or globs) to their config, e.g. 'edited_avatar_round_*: {finetune_steps: 200}'"
        )
    resolved: dict[str, dict] = {}
    for pattern, values in entries.items():
        matched = fnmatch.filter(assets, str(pattern))
        if not matched:
            raise InputError(path, f"{pattern!r} matches no asset; assets are {assets}")
        for name in matched:
            resolved.setdefault(name, {}).update(values)
    return resolved


def _for(asset_config: dict[str, dict], assets: list[str]) -> dict[str, dict]:
    return {name: values for name, values in asset_config.items() if name in assets}


def _report(outcome) -> bool:
    if outcome.success:
        typer.secho(f"  ok (run {outcome.run_id})", fg=typer.colors.GREEN)
    for message in outcome.failures:
        typer.secho(f"  failed: {message}", fg=typer.colors.RED, err=True)
    return outcome.success


@app.command()
def reenact(
    video: str = typer.Argument(..., help="the registered video whose (unedited) avatar is driven"),
    driver: str = typer.Option(
        "", help="the registered video that drives it; default: COSAVATAR_DRIVER, else the first other video"
    ),
) -> None:
    """Check animation before editing: materialize `avatar_reenactment`, the avatar driven by another video."""
    pipeline = _pipeline()
    try:
        typer.echo(f"driving the avatar of {video!r} ...")
        ok = _report(pipeline.materialize_animation(video, driver))
    except CosavatarError as exc:
        _fail(exc)
    if not ok:
        raise typer.Exit(code=1)
    folder = pipeline.asset_folder("avatar_reenactment", video)
    _print_key_figures(pipeline, video, only=["avatar_reenactment"])
    typer.secho(f"{'avatar_reenactment':>22}: {folder / 'side_by_side.mp4'}", bold=True)


@app.command()
def status() -> None:
    """What is materialized for each registered video, and how far each edit got on it."""
    pipeline = _pipeline()
    assets = pipeline.video_asset_names()
    done = {asset: pipeline.materialized(asset) for asset in assets}
    width = max([5] + [len(v) for v in pipeline.registry.video_names()])
    typer.echo("video".ljust(width) + "  preset    " + "  ".join(assets))
    for name in pipeline.registry.video_names():
        entry = pipeline.registry.get_video(name)
        marks = "  ".join(("yes" if name in done[a] else "-").ljust(len(a)) for a in assets)
        typer.echo(f"{name.ljust(width)}  {entry.preset.ljust(8)}  {marks}")
    edits = pipeline.registry.edit_names()
    if not edits:
        typer.echo("edits: none")
    edit_assets = pipeline.edit_asset_names()
    edit_done = {asset: pipeline.materialized(asset) for asset in edit_assets}
    for edit_name in edits:
        spec = pipeline.registry.get_edit(edit_name)
        typer.echo(f"edit {edit_name!r}: {spec.prompt!r}, region {spec.region}, editor {spec.editor}")
        for name in pipeline.registry.video_names():
            key = edit_video_key(edit_name, name)
            stored = [a for a in edit_assets if key in edit_done[a]]
            typer.echo(
                f"  {name.ljust(width)}  {len(stored)}/{len(edit_assets)} edit stages"
                + (f" (last: {stored[-1]})" if stored else "")
            )


@app.command()
def capacity(
    videos: int = typer.Option(..., help="videos to reconstruct"),
    edits: int = typer.Option(..., help="edits to apply to every video"),
    cpu_workers: int = typer.Option(1, help="steps that run at once on the CPU queue (all workers)"),
    gpu_workers: int = typer.Option(1, help="steps that run at once on the gpu queue (all GPUs)"),
    preset: str = typer.Option(DEFAULT_PRESET, help="the videos' preset"),
    table: Optional[Path] = typer.Option(
        None, help="measured per-stage table; default: benchmarks/results/capacity.json"
    ),
) -> None:
    """What a backfill of N videos x M edits costs on W CPU and G GPU workers, from the measured per-stage table."""
    from cosavatar_pipeline.capacity import DEFAULT_TABLE, estimate, load_table, stage_costs

    try:
        measured = load_table(table or DEFAULT_TABLE)
        result = estimate(stage_costs(measured, preset), videos, edits, cpu_workers, gpu_workers)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        _fail(exc)
    where = measured.get("measured_on", {})
    typer.echo(
        f"{videos} videos x {edits} edits at {preset}, {cpu_workers} CPU + {gpu_workers} GPU step slots "
        f"(stages measured {where.get('date', '?')} on {where.get('cpu_cores', '?')} CPU cores, "
        f"accelerator: {where.get('accelerator', '?')})"
    )
    for line in result.lines():
        typer.echo(f"  {line}")


@app.command("instance-config")
def instance_config() -> None:
    """Write $DAGSTER_HOME/dagster.yaml from the repository's: sqlite, or PostgreSQL when DAGSTER_POSTGRES_URL is "
    "set."""
    from cosavatar_pipeline.home import layout
    from cosavatar_pipeline.orchestration.instance_config import write_instance_config
    from cosavatar_pipeline.orchestration.operations import dagster_home_for

    try:
        path = write_instance_config(dagster_home_for(layout()))
    except ValueError as exc:
        _fail(exc)
    typer.echo(str(path))


@app.command()
def worker(
    queue: list[str] = typer.Option(["dagster"], help="queues to take steps from: dagster (CPU stages) and/or gpu"),
    name: Optional[str] = typer.Option(None, help="worker name (shown in each step's event log); default: the queues"),
    concurrency: int = typer.Option(1, help="steps at once (for a gpu worker: its number of GPUs)"),
) -> None:
    """Start a Celery worker for COSAVATAR_EXECUTOR=celery: takes steps from the broker and runs them here.

    Broker and settings are the executor's (COSAVATAR_CELERY_BROKER, default redis on localhost); the worker needs
    the same DAGSTER_HOME instance (PostgreSQL), COSAVATAR_HOME and MLFLOW_TRACKING_URI as the runs."""
    import yaml

    from cosavatar_pipeline.atomic import atomic_file
    from cosavatar_pipeline.home import layout
    from cosavatar_pipeline.orchestration.executors import (
        EXECUTOR_ENV,
        celery_settings,
        executor_name,
        step_process_environment,
    )
    from cosavatar_pipeline.orchestration.operations import instance_for

    if executor_name() != "celery":
        typer.secho(
            f"note: {EXECUTOR_ENV} is not 'celery' in this environment: only runs launched where it is send "
            "their steps to workers",
            fg=typer.colors.YELLOW,
            err=True,
        )
    instance = instance_for(layout())
    config = Path(instance.root_directory) / "celery-worker.yaml"
    with atomic_file(config, "w", private=True) as handle:  # the broker URL may carry a password
        yaml.safe_dump({"execution": {"config": celery_settings()}}, handle, sort_keys=False)
    worker_name = name or "-".join(queue)
    command = [
        str(Path(sys.executable).with_name("dagster-celery")),
        "worker",
        "start",
        "-A",
        "dagster_celery.app",
        "-y",
        str(config),
        "-n",
        worker_name,
    ]
    for each in queue:
        command += ["-q", each]
    command += ["--", f"--concurrency={concurrency}"]
    typer.echo(f"celery worker {worker_name!r} on queue(s) {', '.join(queue)}: {' '.join(command)}")
    sys.stdout.flush()
    environment = {
        **step_process_environment(dict(os.environ)),
        "DAGSTER_HOME": instance.root_directory,
        # dagster-celery starts `celery` by name: this environment's, also when it is not on PATH
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    os.execve(command[0], command, environment)


@app.command()
def demo(
    video: Optional[Path] = typer.Option(None, help="your own clip instead of the bundled synthetic sample"),
    preset: Optional[str] = typer.Option(None, help=f"default: $COSAVATAR_PRESET, else {DEFAULT_PRESET}"),
) -> None:
    """Register the sample (or VIDEO), a reenactment driver and a sample edit; materialize every stage, check the
    avatar moves when the driver drives it, apply the edit, render the edited video and its reenactment."""
    from cosavatar_pipeline.video.sample import make_sample_clips

    pipeline = _pipeline()
    try:
        samples = make_sample_clips(pipeline.home.samples)
        driver = pipeline.ensure_video(samples["astronaut_driver"], name="astronaut_driver", preset=preset)
        if video is None:
            typer.echo("using the bundled SYNTHETIC sample (the public-domain NASA astronaut portrait, animated)")
            target = pipeline.ensure_video(samples["astronaut_talking"], name="astronaut_talking", preset=preset)
        else:
            target = pipeline.ensure_video(video, preset=preset)
        spec = pipeline.ensure_edit(SAMPLE_EDIT_PROMPT, SAMPLE_EDIT_NAME)
    except CosavatarError as exc:
        _fail(exc)
    failed = False
    for entry, stages in ((target, None), (driver, DRIVER_STAGES)):
        typer.echo(f"materializing video {entry.name!r} ...")
        outcome = pipeline.materialize_video(entry.name, select=stages)
        failed |= not outcome.success
        for message in outcome.failures:
            typer.secho(f"  failed: {message}", fg=typer.colors.RED, err=True)
    if not failed:
        typer.echo(
            f"checking that the avatar of {target.name!r} moves: driven by {driver.name!r} (avatar_reenactment) ..."
        )
        failed |= not _report(pipeline.materialize_animation(target.name, driver.name))
    if not failed:
        typer.echo(f"applying edit {spec.name!r} ({spec.prompt!r}, region {spec.region}) to {target.name!r} ...")
        try:
            outcome = pipeline.materialize_edit(
                spec.name, target.name, asset_config={"reenacted_render": {"driver": driver.name}}
            )
            failed |= not _report(outcome)
        except CosavatarError as exc:
            _fail(exc)
    typer.echo("")
    for asset in pipeline.video_asset_names():
        typer.echo(f"{asset:>22}: {pipeline.asset_folder(asset, target.name)}")
    edit_key = edit_video_key(spec.name, target.name)
    for asset in pipeline.edit_asset_names():
        typer.echo(f"{asset:>22}: {pipeline.asset_folder(asset, edit_key)}")
    _print_key_figures(pipeline, target.name)
    _print_edit_figures(pipeline, spec.name, target.name)
    _print_mlflow_runs(pipeline, [target.name, driver.name, edit_key])
    typer.echo("")
    for asset, file in (
        ("reconstruction_render", "side_by_side.mp4"),
        ("avatar_reenactment", "side_by_side.mp4"),
        ("final_render", "final.mp4"),
        ("final_render", "side_by_side.mp4"),
        ("final_render", "final_crop.mp4"),
        ("reenacted_render", "reenacted.mp4"),
        ("reenacted_render", "side_by_side.mp4"),
    ):
        partition = target.name if asset in ("reconstruction_render", "avatar_reenactment") else edit_key
        path = pipeline.asset_folder(asset, partition) / file
        if path.exists():
            typer.secho(f"{asset:>22}: {path}", bold=True)
    delivered = pipeline.asset_folder("final_render", edit_key) / "manifest.json"
    if delivered.exists():
        import json

        info = json.loads(delivered.read_text())["info"]
        typer.secho(
            f"final.mp4 delivered at {info['delivered_width']:.0f} x {info['delivered_height']:.0f} px", bold=True
        )
    typer.echo("web UI: make ui   (Dagster at http://127.0.0.1:3000, MLflow at http://127.0.0.1:5000)")
    if failed:
        raise typer.Exit(code=1)


KEY_FIGURES = {
    "frames": ("frame_count", "fps", "resolution"),
    "face_coefficients": ("reprojection_px_mean", "reprojection_px_p95", "pose_jitter_deg_vs_5frame_average"),
    "face_parsing": ("iou_hair", "iou_skin", "hair_presence"),
    "background_plate": ("never_seen_fraction",),
    "avatar": (
        "holdout_psnr",
        "holdout_psnr_person",
        "segment_psnr_mouth",
        "segment_mouth_r_moving",
        "segment_mouth_gain_moving",
        "plate_psnr",
        "train_seconds",
    ),
    "reconstruction_render": ("psnr_vs_source", "psnr_vs_source_holdout"),
    "avatar_reenactment": (
        "mouth_r_moving",
        "mouth_gain_moving",
        "noise_floor_mouth_r_moving",
        "identity_drift_pct",
        "clamped_code_fraction",
    ),
}

# how a render follows its driver (reenacted_render, avatar_reenactment)
DRIVEN_FIGURES = (
    "mouth_r_moving",
    "mouth_gain_moving",
    "eyes_r_moving",
    "noise_floor_mouth_r_moving",
    "identity_drift_pct",
)


EDIT_FIGURES = {
    "edited_dataset": (
        "target_change_inside",
        "target_change_outside",
        "target_change_beyond_feather",
        "region_growth",
    ),
    "edited_avatar": ("psnr_vs_targets", "render_change_inside", "leakage_outside", "change_between_rounds_inside"),
    "final": (
        "delivered_width",
        "delivered_height",
        "detail_ratio",
        "delta_e_vs_crop_composite",
        "warping_error_raw_edits",
        "warping_error_final",
        "warping_error_ratio",
        "psnr_outside_region_vs_source",
    ),
    "reenacted": DRIVEN_FIGURES,
}


def _print_edit_figures(pipeline, edit: str, video: str) -> None:
    import json

    for asset in pipeline.edit_asset_names():
        manifest = pipeline.asset_folder(asset, edit_video_key(edit, video)) / "manifest.json"
        names = EDIT_FIGURES.get(asset.rsplit("_round_", 1)[0].removesuffix("_render"), ())
        if manifest.exists() and names:
            info = json.loads(manifest.read_text())["info"]
            figures = ", ".join(f"{name} {info[name]:.3g}" for name in names if name in info)
            label = info.get("editor") or f"driver {info.get('driver')}"
            typer.echo(f"{asset:>22}  [{label}] {figures}")


def _print_key_figures(pipeline, video: str, only: list[str] | None = None) -> None:
    import json

    for asset, names in KEY_FIGURES.items():
        if only and asset not in only:
            continue
        manifest = pipeline.asset_folder(asset, video) / "manifest.json"
        if manifest.exists():
            info = json.loads(manifest.read_text())["info"]
            figures = ", ".join(f"{name} {info[name]:.3g}" for name in names if name in info)
            typer.echo(f"{asset:>22}  {figures}")


def _print_mlflow_runs(pipeline, partitions: list[str]) -> None:
    from resources import MlflowTracking, StorageResource

    tracker = MlflowTracking(storage=StorageResource(root=str(pipeline.home.root))).tracker()
    experiment = tracker.client.get_experiment_by_name(tracker.experiment)
    if experiment is None:
        return
    typer.echo(f"MLflow store: {pipeline.home.mlflow_tracking_uri}")
    runs = tracker.client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=200
    )
    latest: dict[str, object] = {}
    for run in runs:
        key = (run.data.tags.get("cosavatar.asset"), run.data.tags.get("cosavatar.partition"))
        if key[1] in partitions and key not in latest:
            latest[key] = run
    for (asset, partition), run in sorted(latest.items()):
        typer.echo(f"  mlflow run {run.info.run_id}  {asset}[{partition}]  {run.info.status}")


def main() -> None:  # pragma: no cover - console entry point
    os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ start-up chatter
    try:
        app()
    except CosavatarError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)
