"""`face_landmarks`: mediapipe FaceMesh (478 points with irises) tracked over the frames."""

import dagster as dg
import numpy as np
import pandas as pd

from assets.partitions import video_partitions
from assets.reporting import ProgressLog, manifest_output, preview_metadata, user_errors_fail_the_step
from cosavatar_pipeline.face.landmarks import track_landmarks
from cosavatar_pipeline.preview import contact_sheet, draw_points
from cosavatar_pipeline.stages.face_landmarks import LANDMARKS_FILE, TRACKING_FILE, load_landmarks
from cosavatar_pipeline.stages.frames import load_frames
from resources import Manifest, MlflowTracking, StorageResource, mlflow_metadata

MIN_TRACKED_RATIO_CHECK = 0.9


@dg.asset(
    partitions_def=video_partitions,
    group_name="face",
    kinds={"mediapipe", "mlflow"},
    io_manager_key="manifest_io_manager",
    description="478 FaceMesh landmarks per frame (x, y in crop pixels, relative depth), tracked in video mode. "
    "Frames without a plausible face are flagged (tracked = false) and filled by interpolation; a clip where "
    "fewer than half the frames track fails.",
)
def face_landmarks(
    context: dg.AssetExecutionContext, frames: Manifest, storage: StorageResource, tracking: MlflowTracking
) -> dg.Output[Manifest]:
    images = load_frames(frames.directory)
    with user_errors_fail_the_step(), storage.write_partition(context) as writer, tracking.run(context) as run:
        track = track_landmarks(
            images, label=f"video {context.partition_key!r}", progress=ProgressLog(context, "tracked frames", 50)
        )
        np.save(writer.staging / LANDMARKS_FILE, track.points)
        pd.DataFrame(
            {
                "frame_index": np.arange(len(track.tracked)),
                "tracked": track.tracked,
                "detection_score": track.detection_score,
            }
        ).to_parquet(writer.staging / TRACKING_FILE, index=False)
        figures = {
            "tracked_ratio": track.tracked_ratio,
            "interpolated_frames": int((~track.tracked).sum()),
            "detection_confidence_mean": float(track.detection_score.mean()),
        }
        writer.record([LANDMARKS_FILE, TRACKING_FILE], frame_count=len(images), **figures)
        picks = np.linspace(0, len(images) - 1, 4).round().astype(int)
        preview = contact_sheet(
            np.stack([draw_points(images[i], [(track.points[i], (0, 255, 0))]) for i in picks]), count=4, tile=256
        )
        run.log_metrics(figures)
        run.log_image(preview, "landmarks.png")
    return manifest_output(
        writer.manifest,
        {**figures, "preview": preview_metadata(preview, "landmarks"), **mlflow_metadata(run)},
    )


@dg.asset_check(
    asset=face_landmarks,
    partitions_def=video_partitions,
    description=f"At least {MIN_TRACKED_RATIO_CHECK:.0%} of frames track; no NaN.",
)
def face_landmarks_tracked(face_landmarks: Manifest) -> dg.AssetCheckResult:
    points = load_landmarks(face_landmarks.directory)
    ratio = face_landmarks.info["tracked_ratio"]
    finite = bool(np.isfinite(points).all())
    return dg.AssetCheckResult(
        passed=finite and ratio >= MIN_TRACKED_RATIO_CHECK,
        severity=dg.AssetCheckSeverity.WARN if finite else dg.AssetCheckSeverity.ERROR,
        metadata={"tracked_ratio": ratio, "finite": finite},
    )
