"""`face_coefficients`: the parametric face model fitted to the tracked landmarks (camera, head pose, identity,
expression basis and codes)."""

import dataclasses
from typing import Optional

import dagster as dg
import numpy as np

from assets.partitions import video_partitions
from assets.reporting import manifest_output, preview_metadata
from cosavatar_pipeline.face.fitting import FitConfig, fit_face_model
from cosavatar_pipeline.preview import contact_sheet, draw_points
from cosavatar_pipeline.stages.face_coefficients import load_face_model
from cosavatar_pipeline.stages.face_landmarks import load_track
from cosavatar_pipeline.stages.frames import load_frames
from resources import Manifest, MlflowTracking, StorageResource, mlflow_metadata

MAX_REPROJECTION_PCT_IOD = 1.5  # mean error bound of the asset check, % of inter-ocular distance


class FaceFitSettings(dg.Config):
    """Overrides of the fitting defaults (``FitConfig``); unset fields keep the library's defaults."""

    field_of_view_deg: Optional[float] = None
    expression_dims: Optional[int] = None
    iterations: Optional[int] = None
    neutral_frame: Optional[int] = None

    def fit_config(self) -> FitConfig:
        return dataclasses.replace(FitConfig(), **{k: v for k, v in self.model_dump().items() if v is not None})


@dg.asset(
    partitions_def=video_partitions,
    group_name="face",
    kinds={"pytorch", "mlflow"},
    io_manager_key="manifest_io_manager",
    description="Face model fitted to all frames at once (batched PyTorch, 2D reprojection + temporal smoothness): "
    "one focal length, per-frame head pose (world from canonical head), the neutral identity shape in mm, a "
    "K-dimensional expression basis of this video and per-frame expression codes.",
)
def face_coefficients(
    context: dg.AssetExecutionContext,
    config: FaceFitSettings,
    frames: Manifest,
    face_landmarks: Manifest,
    storage: StorageResource,
    tracking: MlflowTracking,
) -> dg.Output[Manifest]:
    track = load_track(face_landmarks.directory)
    fit_config = config.fit_config()
    with storage.write_partition(context) as writer, tracking.run(context) as run:
        run.log_params(dataclasses.asdict(fit_config))

        def progress(step: int, total: int, loss: float) -> None:
            run.log_metrics({"loss": loss}, step=step)
            context.log.info(f"face fit: step {step}/{total}, loss {loss:.4f}")

        result = fit_face_model(track, frames.info["resolution"], fit_config, progress=progress)
        files = result.model.save(writer.staging)
        figures = result.figures
        writer.record(files, **figures)
        images = load_frames(frames.directory)
        picks = np.unique([result.model.neutral_frame, *np.linspace(0, len(images) - 1, 3).round().astype(int)])
        preview = contact_sheet(
            np.stack(
                [
                    draw_points(
                        images[i], [(track.points[i], (0, 255, 0)), (result.projected_points[i], (255, 0, 0))], scale=3
                    )
                    for i in picks
                ]
            ),
            count=len(picks),
            tile=256,
        )
        run.log_metrics(figures)
        run.log_image(preview, "fitted_landmarks.png")
    return manifest_output(
        writer.manifest,
        {
            **{k: round(v, 4) for k, v in figures.items()},
            "focal_px": round(result.model.camera.focal_px, 2),
            "preview (green: detected, red: fitted)": preview_metadata(preview, "fitted landmarks"),
            **mlflow_metadata(run),
        },
    )


@dg.asset_check(
    asset=face_coefficients,
    partitions_def=video_partitions,
    description=f"No NaN; mean reprojection error under {MAX_REPROJECTION_PCT_IOD}% of the inter-ocular distance.",
)
def face_coefficients_reproject(face_coefficients: Manifest) -> dg.AssetCheckResult:
    model = load_face_model(face_coefficients.directory)
    finite = all(
        np.isfinite(a).all()
        for a in (
            model.head_rotation_world_from_canonical,
            model.head_translation_world_from_canonical,
            model.expression_codes,
        )
    )
    error = face_coefficients.info["reprojection_pct_iod_mean"]
    return dg.AssetCheckResult(
        passed=bool(finite and error < MAX_REPROJECTION_PCT_IOD),
        metadata={"finite": finite, "reprojection_pct_iod_mean": error},
    )
