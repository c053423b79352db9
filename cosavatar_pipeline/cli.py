"""`cosavatar`: register videos and edits, materialize stages, show status, run the demo."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from cosavatar_pipeline.errors import CosavatarError
from cosavatar_pipeline.presets import DEFAULT_PRESET, PRESETS

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help=__doc__)

SAMPLE_EDIT_PROMPT, SAMPLE_EDIT_NAME = "give her pink hair", "pink_hair"
# A reenactment driver only lends its motion: no parsing or avatar of its own.
DRIVER_STAGES = ["source_video", "frames", "face_landmarks", "face_coefficients", "driving_motion"]


def _pipeline():
    from cosavatar_pipeline.operations import Pipeline

    return Pipeline()


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


@app.command("add-video")
def add_video(
    path: Path = typer.Argument(..., help="video file (mp4, mov, ...)"),
    name: Optional[str] = typer.Option(None, help="partition key (slug); default: from the file name"),
    preset: str = typer.Option(DEFAULT_PRESET, help=f"quality preset: {', '.join(PRESETS)}"),
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
    region: Optional[str] = typer.Option(None, help="hair, face, lips, eyes, clothes, background, person, all; default: from the prompt"),
    name: Optional[str] = typer.Option(None, help="partition key (slug); default: from the prompt"),
    editor: str = typer.Option("auto", help="auto, ip2p or procedural"),
    seed: int = typer.Option(0),
) -> None:
    """Register an edit spec as an `edit` partition."""
    try:
        spec = _pipeline().add_edit(prompt, name=name, region=region, editor=editor, seed=seed)
    except CosavatarError as exc:
        _fail(exc)
    how = "inferred from the prompt" if spec.region_inferred else "given"
    typer.echo(f"registered edit {spec.name!r}: {spec.prompt!r}, region {spec.region} ({how}), editor {spec.editor}")


@app.command()
def materialize(
    video: Optional[list[str]] = typer.Option(None, help="video partition(s); default: all registered"),
    edit: Optional[list[str]] = typer.Option(None, help="edit partition(s) to apply (edit-stage assets)"),
    select: Optional[str] = typer.Option(None, help="comma-separated asset names; default: every stage"),
) -> None:
    """Materialize stages for video partitions, recorded in the Dagster instance (visible in the web UI)."""
    pipeline = _pipeline()
    videos = video or pipeline.registry.video_names()
    if not videos:
        _fail(CosavatarError("no videos registered: run `cosavatar add-video PATH` first"))
    if edit:
        _fail(CosavatarError("edit-stage assets do not exist yet in this version; materialize video stages only"))
    selected = [name.strip() for name in select.split(",")] if select else None
    failed = False
    for name in videos:
        typer.echo(f"materializing video {name!r} ...")
        try:
            outcome = pipeline.materialize_video(name, select=selected)
        except CosavatarError as exc:
            _fail(exc)
        if outcome.success:
            typer.secho(f"  ok (run {outcome.run_id})", fg=typer.colors.GREEN)
        else:
            failed = True
            for message in outcome.failures:
                typer.secho(f"  failed: {message}", fg=typer.colors.RED, err=True)
    if failed:
        raise typer.Exit(code=1)


@app.command()
def status() -> None:
    """What is materialized for each registered video."""
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
    typer.echo(f"edits: {', '.join(edits) if edits else 'none'}")


@app.command()
def demo(
    video: Optional[Path] = typer.Option(None, help="your own clip instead of the bundled synthetic sample"),
    preset: str = typer.Option(DEFAULT_PRESET),
) -> None:
    """Register the sample (or VIDEO), a reenactment driver and a sample edit; materialize every stage."""
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
    typer.echo("")
    typer.echo(f"edit registered: {spec.name!r} ({spec.prompt!r}, region {spec.region})")
    for asset in pipeline.video_asset_names():
        typer.echo(f"{asset:>18}: {pipeline.asset_folder(asset, target.name)}")
    _print_key_figures(pipeline, target.name)
    _print_mlflow_runs(pipeline, [target.name, driver.name])
    typer.echo("web UI: make ui   (Dagster at http://127.0.0.1:3000, MLflow at http://127.0.0.1:5000)")
    if failed:
        raise typer.Exit(code=1)


KEY_FIGURES = {
    "frames": ("frame_count", "fps", "resolution"),
    "face_coefficients": ("reprojection_px_mean", "reprojection_px_p95", "pose_jitter_deg_vs_5frame_average"),
    "face_parsing": ("iou_hair", "iou_skin", "hair_presence"),
    "background_plate": ("never_seen_fraction",),
    "avatar": ("holdout_psnr", "holdout_psnr_person", "plate_psnr", "train_seconds"),
}


def _print_key_figures(pipeline, video: str) -> None:
    import json

    for asset, names in KEY_FIGURES.items():
        manifest = pipeline.asset_folder(asset, video) / "manifest.json"
        if manifest.exists():
            info = json.loads(manifest.read_text())["info"]
            figures = ", ".join(f"{name} {info[name]:.3g}" for name in names if name in info)
            typer.echo(f"{asset:>18}  {figures}")


def _print_mlflow_runs(pipeline, partitions: list[str]) -> None:
    from resources import MlflowTracking

    tracker = MlflowTracking().tracker()
    experiment = tracker.client.get_experiment_by_name(tracker.experiment)
    if experiment is None:
        return
    typer.echo(f"MLflow store: {pipeline.home.mlflow_tracking_uri}")
    runs = tracker.client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=200)
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
