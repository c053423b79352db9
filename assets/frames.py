"""`frames`: one fixed face-centred square crop, resampled to the preset's size and constant frame rate."""

import dagster as dg
import numpy as np
import pandas as pd

from assets.partitions import video_partitions
from assets.reporting import ProgressLog, manifest_output, preview_metadata, user_errors_fail_the_step
from cosavatar_pipeline.presets import get_preset
from cosavatar_pipeline.preview import contact_sheet
from cosavatar_pipeline.stages.frames import FRAMES_FILE, TIMESTAMPS_FILE, load_frames
from cosavatar_pipeline.stages.source_video import SOURCE_FILE
from cosavatar_pipeline.video.frames import extract_frames
from resources import Manifest, MlflowTracking, StorageResource, mlflow_metadata


@dg.asset(
    partitions_def=video_partitions,
    group_name="ingest",
    kinds={"numpy", "mediapipe", "mlflow"},
    io_manager_key="manifest_io_manager",
    description="Decoded frames (uint8 .npy, N×S×S×3) in one fixed face-centred square crop chosen from mediapipe "
    "face detections, at the preset's resolution and a constant frame rate, plus a parquet table of source timestamps.",
)
def frames(
    context: dg.AssetExecutionContext, source_video: Manifest, storage: StorageResource, tracking: MlflowTracking
) -> dg.Output[Manifest]:
    preset = get_preset(source_video.info["preset"])
    source = source_video.path(SOURCE_FILE)
    with user_errors_fail_the_step(), storage.write_partition(context) as writer, tracking.run(context) as run:
        result = extract_frames(
            source,
            writer.staging,
            preset,
            progress=ProgressLog(context, "decoded source frames", 50),
            source_label=source_video.info["original_path"],
        )
        crop = result.crop.as_dict()
        writer.record(
            [FRAMES_FILE, TIMESTAMPS_FILE],
            preset=preset.name,
            frame_count=result.frame_count,
            fps=result.fps,
            resolution=result.resolution,
            crop=crop,
        )
        sheet = contact_sheet(load_frames(writer.staging))
        run.log_params(
            {
                "preset": preset.name,
                "resolution": preset.resolution,
                "fps": preset.fps,
                **{f"crop_{k}": v for k, v in crop.items()},
            }
        )
        run.log_metrics(
            {"frame_count": result.frame_count, "seconds": result.seconds, "upsampled": float(result.upsampled)}
        )
        run.log_image(sheet, "contact_sheet.png")
    return manifest_output(
        writer.manifest,
        {
            "frame_count": result.frame_count,
            "fps": result.fps,
            "resolution": result.resolution,
            "crop_box": crop,
            "upsampled": result.upsampled,
            "source_frame_count": result.source_frame_count,
            "seconds": round(result.seconds, 2),
            "contact_sheet": preview_metadata(sheet, "contact sheet"),
            **mlflow_metadata(run),
        },
    )


@dg.asset_check(
    asset=frames,
    partitions_def=video_partitions,
    description="Frame array shape and count match the source duration × fps.",
)
def frames_cover_source_duration(frames: Manifest) -> dg.AssetCheckResult:
    array = load_frames(frames.directory)
    table = pd.read_parquet(frames.path(TIMESTAMPS_FILE))
    size = frames.info["resolution"]
    expected = frames.info["frame_count"]
    shape_ok = array.shape == (expected, size, size, 3) and array.dtype == np.uint8 and len(table) == expected
    span_s = float(table["source_time_s"].iloc[-1]) if len(table) else 0.0
    # The last output frame shows a source frame within one output interval of the end of the covered span.
    timing_ok = bool(np.all(np.diff(table["source_time_s"]) >= 0)) and span_s <= expected / frames.info["fps"]
    return dg.AssetCheckResult(
        passed=bool(shape_ok and timing_ok),
        metadata={"shape": str(array.shape), "table_rows": len(table), "last_source_time_s": round(span_s, 3)},
    )
